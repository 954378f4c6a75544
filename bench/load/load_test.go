package load

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestClosedLoopCountsStatusesAndBytes(t *testing.T) {
	body := make([]byte, 1024)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{
		BaseURL:     srv.URL,
		Requests:    []Request{{Path: "/a"}, {Path: "/missing"}},
		Concurrency: 4,
		Duration:    300 * time.Millisecond,
		Warmup:      50 * time.Millisecond,
		PID:         os.Getpid(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ok, missing := res.Status[200], res.Status[404]
	if ok == 0 || missing == 0 || ok+missing != res.Requests || res.Failed() != 0 {
		t.Fatalf("status counts %v, errors %v, requests %d", res.Status, res.Errors, res.Requests)
	}
	if res.Bytes < ok*1024 {
		t.Errorf("bytes %d < %d full bodies", res.Bytes, ok)
	}
	if res.Latency.TotalCount() != res.Requests {
		t.Errorf("histogram holds %d samples, want %d", res.Latency.TotalCount(), res.Requests)
	}
	if res.Server.CPUSeconds <= 0 || res.Server.PeakRSS <= 0 {
		t.Errorf("server stats not read: %+v", res.Server)
	}
}

// A server that stalls once must show the stall in the open-loop latencies
// of every request that was due during it, not only in the one it hit.
func TestOpenLoopCountsQueueingBehindAStall(t *testing.T) {
	// The 20th request (about 200 ms into the run at 100/s) stalls once.
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) == 20 {
			time.Sleep(300 * time.Millisecond)
		}
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{
		BaseURL:     srv.URL,
		Requests:    []Request{{Path: "/"}},
		Concurrency: 1,
		Rate:        100,
		Duration:    time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < 50 {
		t.Fatalf("completed %d of 100 arrivals", res.Requests)
	}
	// About 30 of 100 arrivals were due during the 300 ms stall, waiting
	// 300, 290, ... 10 ms: p90 is near 200 ms. A closed-loop view would
	// show one slow request and a p90 of well under a millisecond.
	if p90 := res.Quantile(90); p90 < 100*time.Millisecond {
		t.Errorf("p90 %v hides the stall", p90)
	}
}

// CPU readings of this process are positive, grow with work done, and
// the nanosecond figure agrees with the tick-based one. No figure is
// compared with wall-clock time: on a loaded machine a spinning thread
// gets whatever share the scheduler gives it.
func TestProcReadsSelf(t *testing.T) {
	pid := os.Getpid()
	c0, err := ReadCPU(pid)
	if err != nil || c0 <= 0 {
		t.Fatalf("cpu %v, %v", c0, err)
	}
	// Work until the tick-based figure has moved a few ticks, whatever
	// the machine's load.
	s0, err := statCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for s, _ := statCPU(pid); s-s0 < 5.0/clockTicks; s, _ = statCPU(pid) {
		for i := range 1 << 20 {
			sum += i
		}
	}
	c1, err := ReadCPU(pid)
	if err != nil || c1 <= c0 {
		t.Fatalf("cpu went from %.3f to %.3f s after work (%v, %d)", c0, c1, err, sum)
	}
	// Both read the same counters, a few ticks apart.
	st, err := statCPU(pid)
	if c2, _ := ReadCPU(pid); err != nil || math.Abs(st-c2) > 0.1 {
		t.Fatalf("schedstat %.3f s, stat %.3f s (%v)", c2, st, err)
	}
	rss, hwm, err := ReadMem(pid)
	if err != nil || rss <= 0 || hwm < rss {
		t.Fatalf("rss %d hwm %d, %v", rss, hwm, err)
	}
}

// Once sends every request exactly once, and TTFB is the time to the first
// body byte, not to the last.
func TestOnceSendsEachRequestOnceAndTimesFirstByte(t *testing.T) {
	const pause = 200 * time.Millisecond
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path]++
		mu.Unlock()
		_, _ = w.Write([]byte("first"))
		w.(http.Flusher).Flush()
		time.Sleep(pause)
		_, _ = w.Write([]byte("last"))
	}))
	defer srv.Close()
	var reqs []Request
	for i := range 40 {
		reqs = append(reqs, Request{Path: fmt.Sprintf("/%d", i)})
	}
	res, err := Run(context.Background(), Config{BaseURL: srv.URL, Requests: reqs, Concurrency: 4, Once: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 40 || len(seen) != 40 {
		t.Fatalf("%d responses over %d paths, want 40 over 40", res.Requests, len(seen))
	}
	for p, n := range seen {
		if n != 1 {
			t.Errorf("%s asked %d times", p, n)
		}
	}
	// The last byte follows the first by the pause, however slow the
	// machine: a TTFB that timed the last byte would be as long as the
	// latency. (Half the pause leaves room for scheduling delays.)
	ttfb, lat := res.TTFBQuantile(50), res.Quantile(50)
	if lat < pause || ttfb > lat-pause/2 {
		t.Errorf("TTFB p50 %v, latency p50 %v: want latency over the %v pause and TTFB well before it", ttfb, lat, pause)
	}
}
