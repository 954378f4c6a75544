package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// clock is a settable clock for the limiters.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0)} }

func TestDecide(t *testing.T) {
	const interval, span = 10, 30 // rate 1 per 10, burst 3
	for _, c := range []struct {
		name     string
		tat, now int64
		next     int64
		ok       bool
		wait     int64
	}{
		// An unknown client (TAT 0) has a full bucket.
		{"new client", 0, 100, 110, true, 0},
		// A TAT in the past is a full bucket too: idle clients earn no more than Burst.
		{"idle client", 50, 100, 110, true, 0},
		// Two requests already used: the third of the burst still passes.
		{"burst not spent", 120, 100, 130, true, 0},
		// Burst spent: the next is allowed once one interval has passed.
		{"burst spent", 130, 100, 0, false, 10},
		{"burst spent, partly refilled", 130, 104, 0, false, 6},
		{"burst spent, one interval later", 130, 110, 140, true, 0},
	} {
		next, ok, wait := decide(c.tat, c.now, interval, span)
		if next != c.next || ok != c.ok || wait != c.wait {
			t.Errorf("%s: decide(%d, %d) = (%d, %v, %d), want (%d, %v, %d)", c.name, c.tat, c.now, next, ok, wait, c.next, c.ok, c.wait)
		}
	}
}

func TestLocalBucket(t *testing.T) {
	clk := newClock()
	reg := prometheus.NewRegistry()
	l := NewLocal(Limit{Rate: 2, Burst: 3}, LocalConfig{Now: clk.now}, reg)
	ctx := context.Background()
	allow := func(key string) (bool, time.Duration) { return l.Allow(ctx, key) }

	for i := range 3 {
		if ok, _ := allow("a"); !ok {
			t.Fatalf("request %d of a burst of 3 refused", i+1)
		}
	}
	ok, wait := allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th request at once: ok %v wait %v, want refused for 500ms", ok, wait)
	}
	// Refusals use nothing up: hammering does not push the wait further.
	for range 10 {
		allow("a")
	}
	clk.add(200 * time.Millisecond)
	if ok, wait := allow("a"); ok || wait != 300*time.Millisecond {
		t.Fatalf("200ms later: ok %v wait %v, want refused for 300ms", ok, wait)
	}
	// Another client is not affected.
	if ok, _ := allow("b"); !ok {
		t.Fatal("another client refused")
	}
	clk.add(300 * time.Millisecond)
	if ok, _ := allow("a"); !ok {
		t.Fatal("refused after one interval")
	}
	if ok, _ := allow("a"); ok {
		t.Fatal("a second request in the same interval allowed")
	}
	// A long pause refills the bucket to Burst, not more.
	clk.add(time.Hour)
	n := 0
	for range 10 {
		if ok, _ := allow("a"); ok {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("after an hour idle %d of 10 requests allowed, want the burst (3)", n)
	}
	if got := value(t, l.limited); got != 1+10+1+1+7 {
		t.Fatalf("cargate_rate_limited_total{source=local} = %v, want 20", got)
	}
}

// TestLocalBounded: a client cycling through addresses cannot grow the
// table past MaxEntries, and does not evict a client being held back.
func TestLocalBounded(t *testing.T) {
	clk := newClock()
	reg := prometheus.NewRegistry()
	l := NewLocal(Limit{Rate: 1, Burst: 5}, LocalConfig{MaxEntries: 1024, Now: clk.now}, reg)
	ctx := context.Background()
	for range 5 {
		l.Allow(ctx, "hog")
	}
	if ok, _ := l.Allow(ctx, "hog"); ok {
		t.Fatal("hog not limited after its burst")
	}
	for i := range 50_000 {
		if ok, _ := l.Allow(ctx, fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)); !ok {
			t.Fatalf("new client %d refused", i)
		}
		if i%1000 == 0 {
			clk.add(time.Millisecond) // time passes, not enough to refill anyone
		}
	}
	if n := l.Len(); n > 1024 {
		t.Fatalf("table holds %d entries, bound is 1024", n)
	}
	if ok, _ := l.Allow(ctx, "hog"); ok {
		t.Fatal("50,000 fresh clients evicted the limited one")
	}
	if value(t, l.evictions) == 0 {
		t.Fatal("evictions not counted")
	}
	// Once every entry's TAT has passed, new clients take the room of
	// those (no eviction of a client still limited is counted). Seven
	// new ones: each sample of 8 from a full shard meets an old entry.
	clk.add(time.Hour)
	before := value(t, l.evictions)
	for i := range 7 {
		l.Allow(ctx, fmt.Sprintf("late-%d", i))
	}
	if got := value(t, l.evictions); got != before {
		t.Fatalf("%v evictions of clients with full buckets counted as lossy", got-before)
	}
	if n := l.Len(); n > 1024 {
		t.Fatalf("table holds %d entries, bound is 1024", n)
	}
}

func TestLongKeysBounded(t *testing.T) {
	long := string(make([]byte, 1<<20))
	if k := boundKey(long); len(k) > maxKeyLen {
		t.Fatalf("key of %d bytes kept at %d", len(long), len(k))
	}
	if boundKey(long) == boundKey(long+"x") {
		t.Fatal("distinct long keys share a bucket")
	}
}

// value reads a counter (without the testutil package, which would pull
// new modules into go.mod).
func value(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var pb dto.Metric
	if err := c.Write(&pb); err != nil {
		t.Fatal(err)
	}
	return pb.GetCounter().GetValue()
}
