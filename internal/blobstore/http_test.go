package blobstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cargate/cargate/internal/faultproxy"
	"github.com/cargate/cargate/internal/retry"
)

const testBlobSize = 100_000

// fastHTTPConfig keeps retries quick so the tests stay fast.
var fastHTTPConfig = HTTPConfig{
	BackoffBase:  time.Millisecond,
	BackoffMax:   20 * time.Millisecond,
	StallTimeout: 300 * time.Millisecond,
	Retries:      3,
}

// rangeOrigin serves blob at /blob with full Range support, and 404
// elsewhere.
func rangeOrigin(t *testing.T, blob []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/blob" {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "blob", time.Time{}, bytes.NewReader(blob))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// setup returns a blob, a proxy in front of an origin serving it, and a
// reader with fresh metrics.
func setup(t *testing.T) ([]byte, *faultproxy.Proxy, *HTTP) {
	t.Helper()
	blob := randomBlob(t, testBlobSize)
	p := faultproxy.New(rangeOrigin(t, blob).URL)
	t.Cleanup(p.Close)
	return blob, p, NewHTTP(fastHTTPConfig, prometheus.NewRegistry())
}

func TestHTTPRanges(t *testing.T) {
	blob, p, h := setup(t)
	ctx := context.Background()
	tests := []struct {
		name        string
		off, length int64
		want        []byte
	}{
		{"start", 0, 100, blob[:100]},                              // Range bytes=0-99
		{"middle", 50_000, 4096, blob[50_000:54_096]},              // inside
		{"end", testBlobSize - 10, 10, blob[testBlobSize-10:]},     // last bytes exactly
		{"open ended", 99_000, -1, blob[99_000:]},                  // bytes=99000-
		{"whole", 0, -1, blob},                                     // no Range header at all
		{"zero length", 10, 0, []byte{}},                           // nothing asked, nothing sent
		{"whole by range", 0, testBlobSize, blob},                  // bytes=0-(size-1)
		{"one byte", 77, 1, blob[77:78]},                           // smallest range
		{"to last byte", 1, testBlobSize - 1, blob[1:]},            // ends at size-1
		{"open ended at end", testBlobSize - 1, -1, blob[99_999:]}, // last byte, open ended
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := h.ReadURL(ctx, p.URL()+"/blob", tc.off, tc.length)
			if err != nil {
				t.Fatalf("ReadURL(%d, %d): %v", tc.off, tc.length, err)
			}
			if got := readAll(t, rc); !bytes.Equal(got, tc.want) {
				t.Fatalf("ReadURL(%d, %d): got %d bytes, want %d (content differs)", tc.off, tc.length, len(got), len(tc.want))
			}
		})
	}
}

func TestHTTPNotFound(t *testing.T) {
	_, p, h := setup(t)
	ctx := context.Background()
	tests := []struct {
		name        string
		path        string
		off, length int64
	}{
		{"missing path", "/nope", 0, 10},                       // 404
		{"offset past end", "/blob", testBlobSize + 5, 10},     // 416
		{"crosses end", "/blob", testBlobSize - 5, 10},         // 206 with only 5 bytes
		{"open ended past end", "/blob", testBlobSize + 1, -1}, // 416
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := p.Requests()
			rc, err := h.ReadURL(ctx, p.URL()+tc.path, tc.off, tc.length)
			if err == nil {
				rc.Close()
			}
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("got %v, want ErrNotFound", err)
			}
			if n := p.Requests() - before; n != 1 {
				t.Fatalf("not-found answer was retried: %d requests", n)
			}
		})
	}
}

func TestHTTPRetriesTransient500s(t *testing.T) {
	blob, p, h := setup(t)
	p.FailNext(2)
	rc, err := h.ReadURL(context.Background(), p.URL()+"/blob", 10, 20)
	if err != nil {
		t.Fatalf("read after two 500s: %v", err)
	}
	if got := readAll(t, rc); !bytes.Equal(got, blob[10:30]) {
		t.Fatal("wrong bytes after retries")
	}
	if n := p.Requests(); n != 3 {
		t.Fatalf("requests = %d, want 3 (two failures, one success)", n)
	}
	if got := counterValue(t, h.m.retries.WithLabelValues("http")); got != 2 {
		t.Fatalf("retries metric = %v, want 2", got)
	}
}

func TestHTTPGivesUpAfterRetries(t *testing.T) {
	_, p, h := setup(t)
	p.FailNext(10)
	_, err := h.ReadURL(context.Background(), p.URL()+"/blob", 0, 10)
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("got %v, want a 500 error", err)
	}
	if n := p.Requests(); n != int64(fastHTTPConfig.Retries+1) {
		t.Fatalf("requests = %d, want %d", n, fastHTTPConfig.Retries+1)
	}
}

func TestHTTPRetryAfterIsCapped(t *testing.T) {
	blob, p, h := setup(t)
	// The server asks for an hour; BackoffMax (20 ms) wins. An uncapped
	// wait would run into the hang guard.
	p.FailNextWith(1, http.StatusTooManyRequests, http.Header{"Retry-After": {"3600"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a hang guard only
	defer cancel()
	rc, err := h.ReadURL(ctx, p.URL()+"/blob", 0, 5)
	if err != nil {
		t.Fatalf("Retry-After not capped at BackoffMax: %v", err)
	}
	if got := readAll(t, rc); !bytes.Equal(got, blob[:5]) {
		t.Fatal("wrong bytes")
	}
	if n := p.Requests(); n != 2 {
		t.Fatalf("requests = %d, want 2 (the 429, then the read)", n)
	}
}

// bodyFaultCases are faults that strike after the body was handed over:
// each must end in an error, never in a clean EOF with fewer bytes.
func TestHTTPBodyFaultsAreErrors(t *testing.T) {
	tests := []struct {
		name   string
		inject func(p *faultproxy.Proxy)
		check  func(t *testing.T, err error)
	}{
		{"reset mid-body", func(p *faultproxy.Proxy) { p.ResetAfter(30_000) }, nil}, // TCP RST after 30 kB
		{"truncated body", func(p *faultproxy.Proxy) { p.TruncateAfter(30_000) }, func(t *testing.T, err error) { // short body, full Content-Length
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
			}
		}},
		{"stall", func(p *faultproxy.Proxy) { p.StallAfter(30_000, 5*time.Second) }, func(t *testing.T, err error) { // no progress for longer than StallTimeout
			if !errors.Is(err, ErrStalled) {
				t.Fatalf("got %v, want ErrStalled", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, p, h := setup(t)
			tc.inject(p)
			rc, err := h.ReadURL(context.Background(), p.URL()+"/blob", 1000, 80_000)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			n, err := io.Copy(io.Discard, rc)
			rc.Close()
			if err == nil {
				t.Fatalf("read %d of 80000 bytes and a clean EOF", n)
			}
			if n >= 80_000 {
				t.Fatalf("read all bytes despite the fault")
			}
			// A read that waited out the 5 s stall would have every byte
			// (checked above), so no clock is needed.
			if tc.check != nil {
				tc.check(t, err)
			}
			if got := counterValue(t, h.m.errors.WithLabelValues("http", "body")); got != 1 {
				t.Fatalf("body errors metric = %v, want 1", got)
			}
		})
	}
}

func TestHTTPSlowConsumerIsNotAStall(t *testing.T) {
	blob, p, h := setup(t)
	rc, err := h.ReadURL(context.Background(), p.URL()+"/blob", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	first := make([]byte, 10)
	if _, err := io.ReadFull(rc, first); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * fastHTTPConfig.StallTimeout) // the caller dawdles, not the server
	rest, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read after a pause: %v", err)
	}
	if !bytes.Equal(append(first, rest...), blob[:1000]) {
		t.Fatal("wrong bytes")
	}
}

func TestHTTPFlippedByteIsDeliveredAsSent(t *testing.T) {
	blob, p, h := setup(t)
	p.FlipByte(7)
	rc, err := h.ReadURL(context.Background(), p.URL()+"/blob", 100, 20)
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, rc)
	want := bytes.Clone(blob[100:120])
	want[7] ^= 0xff
	// Verification is the resolver's job: the reader delivers what came.
	if !bytes.Equal(got, want) {
		t.Fatal("flipped byte not delivered as sent")
	}
}

// TestHTTPServerIgnoringRange covers origins that answer 200 with the whole
// blob to a ranged request.
func TestHTTPServerIgnoringRange(t *testing.T) {
	blob := randomBlob(t, 10_000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(blob)))
		w.Write(blob) // no Range support
	}))
	defer srv.Close()
	cfg := fastHTTPConfig
	cfg.MaxSkip = 5000
	h := NewHTTP(cfg, nil)
	ctx := context.Background()

	rc, err := h.ReadURL(ctx, srv.URL, 1000, 500) // skipped within MaxSkip
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, rc); !bytes.Equal(got, blob[1000:1500]) {
		t.Fatal("wrong bytes after skipping")
	}
	if _, err := h.ReadURL(ctx, srv.URL, 6000, 10); err == nil { // beyond MaxSkip
		t.Fatal("offset beyond MaxSkip was accepted")
	}
	if _, err := h.ReadURL(ctx, srv.URL, 9990, 20); !errors.Is(err, ErrNotFound) { // past the end
		t.Fatalf("got %v, want ErrNotFound", err)
	}
}

func TestHTTPWrongContentRange(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Range", "bytes 0-9/100") // always the first bytes
		w.WriteHeader(http.StatusPartialContent)
		w.Write(make([]byte, 10))
	}))
	defer srv.Close()
	h := NewHTTP(fastHTTPConfig, nil)
	if _, err := h.ReadURL(context.Background(), srv.URL, 50, 10); err == nil {
		t.Fatal("a range at the wrong offset was accepted")
	}
}

func TestHTTPContextCanceledDuringBackoff(t *testing.T) {
	_, p, _ := setup(t)
	cfg := fastHTTPConfig
	// A backoff of an hour: a read that returns at all did not wait it out.
	cfg.BackoffBase, cfg.BackoffMax = time.Hour, time.Hour
	h := NewHTTP(cfg, nil)
	p.FailNext(10)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := h.ReadURL(ctx, p.URL()+"/blob", 0, 10)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(10 * time.Minute): // a hang guard, far from any speed
		t.Fatal("backoff ignored the context")
	}
}

func TestInstrumentDir(t *testing.T) {
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s := Instrument(d, "dir", reg)
	Instrument(d, "dir", reg) // a second store on the same registry reuses the collectors
	ctx := context.Background()
	if err := s.Put(ctx, "a/a.blob", strings.NewReader("hello world"), 11); err != nil {
		t.Fatal(err)
	}
	rc, err := s.ReadRange(ctx, "a/a.blob", 6, 5)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(readAll(t, rc)); got != "world" {
		t.Fatalf("got %q", got)
	}
	if _, err := s.Stat(ctx, "b/b.blob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stat missing: %v", err)
	}
	m := s.(*instrumented).m
	checks := []struct {
		c    prometheus.Collector
		want float64
	}{
		{m.requests.WithLabelValues("dir", "put", "ok"), 1},
		{m.requests.WithLabelValues("dir", "read", "ok"), 1},
		{m.requests.WithLabelValues("dir", "stat", "not_found"), 1},
		{m.bytes.WithLabelValues("dir"), 5},
	}
	for _, c := range checks {
		if got := counterValue(t, c.c); got != c.want {
			t.Errorf("metric = %v, want %v", got, c.want)
		}
	}
}

// counterValue reads a counter without the testutil package (which would
// pull new modules into go.mod).
func counterValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	var pb dto.Metric
	if err := c.(prometheus.Metric).Write(&pb); err != nil {
		t.Fatal(err)
	}
	return pb.GetCounter().GetValue()
}

// TestHTTPLeavesRetriesToTheCaller: a read whose context says the caller
// retries is one request, however the server fails, and a Retry-After
// the server sent comes back with the error for the caller's wait.
func TestHTTPLeavesRetriesToTheCaller(t *testing.T) {
	_, p, h := setup(t)
	p.FailNextWith(10, http.StatusServiceUnavailable, http.Header{"Retry-After": {"7"}})
	_, err := h.ReadURL(retry.CallerRetries(context.Background()), p.URL()+"/blob", 0, 10)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("got %v, want a 503 error", err)
	}
	if n := p.Requests(); n != 1 {
		t.Fatalf("requests = %d, want 1: the caller's budget counts retries", n)
	}
	if d := retry.After(err); d != 7*time.Second {
		t.Fatalf("Retry-After in the error = %v, want 7s", d)
	}
}
