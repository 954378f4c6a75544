package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// stallingBlockstore misbehaves on every Get after the first `after`
// ones while a fault is set: it stalls until the caller's context ends
// (storage that stops answering in the middle of a response), fails, or
// panics.
type stallingBlockstore struct {
	blockstore.Blockstore
	mu    sync.Mutex
	fault string // "", "stall", "fail" or "panic"
	after int
	gets  atomic.Int64
}

func (s *stallingBlockstore) set(on bool, after int) {
	fault := ""
	if on {
		fault = "stall"
	}
	s.setFault(fault, after)
}

func (s *stallingBlockstore) setFault(fault string, after int) {
	s.mu.Lock()
	s.fault, s.after = fault, after
	s.mu.Unlock()
}

func (s *stallingBlockstore) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	s.gets.Add(1)
	s.mu.Lock()
	fault := s.fault
	if s.after > 0 {
		fault = ""
	}
	s.after--
	s.mu.Unlock()
	switch fault {
	case "stall":
		<-ctx.Done()
		return nil, ctx.Err()
	case "fail":
		return nil, errors.New("disk on fire")
	case "panic":
		panic("a bug in the block source")
	}
	return s.Blockstore.Get(ctx, c)
}

// TestStalledCARAbortedAndNotCached: a CAR whose storage stalls after
// the status was sent ends in a broken connection (never a clean 200
// with text appended), the response cache keeps nothing of it, and the
// next request, with storage answering again, gets the whole CAR.
func TestStalledCARAbortedAndNotCached(t *testing.T) {
	bs, root := fixture(t)
	store := &stallingBlockstore{Blockstore: bs}
	h, err := New(Config{RetrievalTimeout: 2 * time.Second}, store, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	url := srv.URL + "/ipfs/" + root.String() + "/rand.bin?format=car"

	// Warm the path resolution so the stall hits the file's leaves.
	store.set(false, 0)
	get(t, srv.URL+"/ipfs/"+root.String()+"/rand.bin?format=raw")
	store.set(true, 600) // past the first 256 KiB written
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err) // the status is sent before the stall
	}
	body, readErr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if readErr == nil {
		t.Fatalf("stalled CAR ended cleanly: status %d, %d bytes, tail %q", resp.StatusCode, len(body), tail(body))
	}
	if strings.Contains(string(body), "Gateway Error") {
		t.Errorf("error text sent inside the CAR body: %q", tail(body))
	}

	store.set(false, 0)
	before := store.gets.Load()
	code, full, err := getErr(url)
	if err != nil || code != http.StatusOK {
		t.Fatalf("after the stall: status %d, err %v", code, err)
	}
	if store.gets.Load() == before {
		t.Errorf("the request after the stall read no block: answered from a cached stalled body")
	}
	fresh, err := New(Config{}, bs, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	want := serve(t, fresh, "GET", "/ipfs/"+root.String()+"/rand.bin?format=car", nil).Body.Bytes()
	if !bytes.Equal(full, want) {
		t.Errorf("CAR after the stall: %d bytes, differs from a fresh gateway's %d", len(full), len(want))
	}
	if n := countCARBlocks(t, full); n < 1024 {
		t.Errorf("CAR after the stall has %d blocks, want the 1,024 leaves and their parents", n)
	}
}

func tail(b []byte) []byte { return b[max(0, len(b)-120):] }

func getErr(url string) (int, []byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	code, b, err := getErr(url)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, code, err)
	}
	return b
}

// countCARBlocks reads a CAR and counts its blocks, failing on any
// malformed section.
func countCARBlocks(t *testing.T, b []byte) int {
	t.Helper()
	br, err := carv2.NewBlockReader(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, err := br.Next()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatalf("CAR block %d: %v", n, err)
		}
		n++
	}
}

// TestFailedStreamsAbortedAndNotCached: a storage error or a panic in the
// block source after the status was sent (boxo reads on a goroutine of
// its own) breaks the connection, leaves nothing in the response cache,
// and the process lives to serve the next request whole; a response that
// succeeded is kept and served again without reading a block.
func TestFailedStreamsAbortedAndNotCached(t *testing.T) {
	bs, root := fixture(t)
	store := &stallingBlockstore{Blockstore: bs}
	h, err := New(Config{RetrievalTimeout: 5 * time.Second}, store, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	base := srv.URL + "/ipfs/" + root.String()
	get(t, base+"/rand.bin?format=raw")
	for _, fault := range []string{"fail", "panic"} {
		for _, url := range []string{base + "/rand.bin?format=car&case=" + fault, base + "/rand.bin?case=" + fault} {
			failedStreamAborted(t, store, url, fault)
		}
	}
}

// failedStreamAborted checks one URL of TestFailedStreamsAbortedAndNotCached.
func failedStreamAborted(t *testing.T, store *stallingBlockstore, url, fault string) {
	t.Helper()
	store.setFault(fault, 600)
	code, body, err := getErr(url)
	if err == nil {
		t.Errorf("%s: ended cleanly: status %d, %d bytes", fault, code, len(body))
	}
	store.setFault("", 0)
	before := store.gets.Load()
	get(t, url)
	if store.gets.Load() == before {
		t.Errorf("%s: the next request was answered from a cached broken body", fault)
	}
	// The response cache stores asynchronously (ristretto): a
	// complete response is served from it once the store is done.
	kept := false
	for range 100 {
		before = store.gets.Load()
		get(t, url)
		if kept = store.gets.Load() == before; kept {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !kept {
		t.Errorf("%s: a complete response was not kept by the response cache", fault)
	}
}

// TestErrorPagesPlain: a 5xx carries a fixed plain message, never boxo's
// text (which names paths, internal errors and retrieval diagnostics).
func TestErrorPagesPlain(t *testing.T) {
	bs, root := fixture(t)
	store := &stallingBlockstore{Blockstore: bs}
	h, err := New(Config{}, store, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	store.setFault("fail", 0)
	rec := serve(t, h, "GET", "/ipfs/"+root.String()+"/index.html", nil)
	if rec.Code < 500 || rec.Body.String() != plainStatus(rec.Code)+"\n" {
		t.Errorf("status %d body %q: want a 5xx with its plain message", rec.Code, rec.Body.String())
	}
}
