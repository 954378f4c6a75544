package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/multiformats/go-multihash"
	"github.com/redis/go-redis/v9"
	"github.com/storacha/go-libstoracha/capabilities/assert"
	ctypes "github.com/storacha/go-libstoracha/capabilities/types"
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/principal/ed25519/signer"
)

// countingFinder answers from a map and counts calls; err, when set, fails.
type countingFinder struct {
	claims map[string][]delegation.Delegation
	calls  atomic.Int32
	err    error
}

func (f *countingFinder) FindClaims(ctx context.Context, h multihash.Multihash) ([]delegation.Delegation, error) {
	f.calls.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	return f.claims[string(h)], nil
}

// redisServer runs a private redis-server on a free loopback port (never
// the shared one), so the test can stop and restart it.
type redisServer struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func startRedis(t *testing.T, port int) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis-server not installed: run scripts/services.sh start"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if port == 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &redisServer{t: t, port: port, cmd: cmd}
	t.Cleanup(s.stop)
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", s.addr()); err == nil {
			c.Close()
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("redis-server on %s did not start", s.addr())
	return nil
}

func (s *redisServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

func (s *redisServer) stop() {
	if s.cmd.Process != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

func claimFor(t *testing.T, h multihash.Multihash) delegation.Delegation {
	t.Helper()
	id, _ := signer.Generate()
	u, _ := url.Parse("https://example.com/x")
	d, err := assert.Location.Delegate(id, id, id.DID().String(),
		assert.LocationCaveats{Content: ctypes.FromHash(h), Location: []url.URL{*u}}, delegation.WithNoExpiration())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRedisTier(t *testing.T) {
	srv := startRedis(t, 0)
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.addr()}, DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	known, _ := multihash.Sum([]byte("known"), multihash.SHA2_256, -1)
	unknown, _ := multihash.Sum([]byte("unknown"), multihash.SHA2_256, -1)
	want := claimFor(t, known)
	next := &countingFinder{claims: map[string][]delegation.Delegation{string(known): {want}}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tier := NewRedis(next, rdb, RedisConfig{Prefix: "test:", NegativeTTL: time.Second, Backoff: 100 * time.Millisecond}, nil, log)
	ctx := context.Background()

	find := func(h multihash.Multihash) []delegation.Delegation {
		t.Helper()
		ds, err := tier.FindClaims(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	// A miss loads from the wrapped finder; the next lookup is a Redis hit
	// (also for a second tier over the same Redis: another machine).
	if ds := find(known); len(ds) != 1 || ds[0].Link().String() != want.Link().String() {
		t.Fatalf("first lookup: %v", ds)
	}
	other := NewRedis(next, rdb, RedisConfig{Prefix: "test:"}, nil, log)
	if ds, _ := other.FindClaims(ctx, known); len(ds) != 1 || next.calls.Load() != 1 {
		t.Fatalf("hit from another tier: %d claims, %d calls to the finder", len(ds), next.calls.Load())
	}
	// Nothing found is cached for NegativeTTL only.
	find(unknown)
	find(unknown)
	if n := next.calls.Load(); n != 2 {
		t.Fatalf("negative entry: %d finder calls, want 2", n)
	}
	time.Sleep(1100 * time.Millisecond)
	find(unknown)
	if n := next.calls.Load(); n != 3 {
		t.Fatalf("after negative TTL: %d finder calls, want 3", n)
	}
	// Errors are never cached.
	failing := &countingFinder{err: errors.New("source down")}
	ft := NewRedis(failing, rdb, RedisConfig{Prefix: "fail:"}, nil, log)
	for i := 0; i < 2; i++ {
		if _, err := ft.FindClaims(ctx, unknown); err == nil {
			t.Fatal("error swallowed")
		}
	}
	if failing.calls.Load() != 2 {
		t.Fatalf("error was cached: %d calls", failing.calls.Load())
	}

	// Redis stops: lookups still answer from the finder, Healthy goes false.
	srv.stop()
	before := next.calls.Load()
	if ds := find(known); len(ds) != 1 {
		t.Fatalf("with Redis down: %d claims", len(ds))
	}
	if tier.Healthy() || next.calls.Load() != before+1 {
		t.Fatalf("Redis down: healthy=%v, finder calls %d (want %d)", tier.Healthy(), next.calls.Load(), before+1)
	}
	if err := tier.Ping(ctx); err == nil {
		t.Fatal("ping succeeded with Redis down")
	}
	// Redis restarts (empty): after the backoff the tier uses it again.
	startRedis(t, srv.port)
	time.Sleep(150 * time.Millisecond)
	if err := tier.Ping(ctx); err != nil || !tier.Healthy() {
		t.Fatalf("after restart: ping %v, healthy %v", err, tier.Healthy())
	}
	find(known) // miss in the fresh Redis, loads and caches
	n := next.calls.Load()
	find(known)
	if next.calls.Load() != n {
		t.Fatal("after restart the answer was not cached again")
	}
}
