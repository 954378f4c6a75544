package resolver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cargate/cargate/internal/faultproxy"
)

// readAll asks for every block of l in order, each with its own deadline,
// and checks that each answer is either exactly the block or an error. It
// returns how many blocks were served.
func readAll(t *testing.T, r *Resolver, l *layout) (served int, errs []error) {
	t.Helper()
	for i, b := range l.blocks {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, err := r.Block(ctx, b.c)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !bytes.Equal(got, l.block(i)) {
			t.Fatalf("block %d: served %d wrong bytes", i, len(got))
		}
		served++
	}
	return served, errs
}

// TestFaultyStorage puts the fault proxy between the resolver's HTTP reader
// and an origin serving the shard with Range. Every Block answer must be the
// exact bytes or an error, never wrong bytes; faults that let some bytes
// through on every attempt must still end in every block being served.
func TestFaultyStorage(t *testing.T) {
	// 256 blocks of 4 KiB (and a few odd sizes) with 40-byte gaps: ~1 MiB.
	sizes := uniform(256, 4096)
	sizes[7], sizes[100], sizes[255] = 1, 10_000, 3
	l := newLayout(t, sizes, 40)
	o := newOrigin(t, map[string][]byte{"/shard": l.blob()})
	cases := []struct {
		name  string
		fault func(p *faultproxy.Proxy)
		// all: every block must be served (the fault is transient, or
		// each attempt verifies at least one new block).
		all bool
	}{
		// A burst of 500s shorter than one read's budget: the resolver
		// retries with backoff (the HTTP reader leaves retries to it; a
		// longer burst is TestOneRetryBudgetPerRead's).
		{"500 burst", func(p *faultproxy.Proxy) { p.FailNext(maxFailsPerSource - 1) }, true},
		// Every body reset after 50 KB: each attempt verifies ~12 blocks
		// and the next resumes after them.
		{"reset mid-body", func(p *faultproxy.Proxy) { p.ResetAfter(50_000) }, true},
		// Every body stalls after 60 KB for longer than StallTimeout.
		{"stall", func(p *faultproxy.Proxy) { p.StallAfter(60_000, 5*time.Second) }, true},
		// Every body ends early although Content-Length promised more.
		{"short body", func(p *faultproxy.Proxy) { p.TruncateAfter(70_000) }, true},
		// Every body has a byte flipped at 20,000: the block it lands in
		// fails verification, but a read that starts at that block (the
		// next Block call) gets it unflipped.
		{"flipped byte mid-span", func(p *faultproxy.Proxy) { p.FlipByte(20_000) }, true},
		// Every body has its byte 100 flipped: inside the first block of
		// every read (save after the 1- and 3-byte blocks), which fails.
		{"flipped byte", func(p *faultproxy.Proxy) { p.FlipByte(100) }, false},
		// Resets before the first block completes: no progress is possible.
		{"reset before first block", func(p *faultproxy.Proxy) { p.ResetAfter(100) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := faultproxy.New(o.URL)
			defer p.Close()
			tc.fault(p)
			r := newTestResolver(t, &fakeLocator{l: l, urls: []string{p.URL() + "/shard"}},
				fastHTTP(), Config{MaxSpan: 256 << 10, ReadTimeout: 20 * time.Second})
			served, errs := readAll(t, r, l)
			t.Logf("served %d/%d blocks, %d errors, %d storage requests", served, len(l.blocks), len(errs), p.Requests())
			if tc.all && len(errs) > 0 {
				t.Fatalf("want every block served, got %d errors; first: %v", len(errs), errs[0])
			}
			if !tc.all && len(errs) == 0 {
				t.Fatalf("a persistent fault that prevents verification served every block")
			}
			for _, err := range errs {
				if tc.name == "flipped byte" && !errors.Is(err, ErrUnverified) {
					t.Errorf("flipped byte: error %v does not wrap ErrUnverified", err)
				}
			}
		})
	}
}

// TestLyingReplica: the first source flips a byte in every body; the
// second is honest. Every block is served from the second, the bad bytes
// never come out, and the verification failure is counted.
func TestLyingReplica(t *testing.T) {
	l := newLayout(t, uniform(64, 8192), 40)
	o := newOrigin(t, map[string][]byte{"/shard": l.blob()})
	liar := faultproxy.New(o.URL)
	defer liar.Close()
	liar.FlipByte(5000)
	honest := faultproxy.New(o.URL)
	defer honest.Close()
	r := newTestResolver(t, &fakeLocator{l: l, urls: []string{liar.URL() + "/shard", honest.URL() + "/shard"}},
		fastHTTP(), Config{})
	served, errs := readAll(t, r, l)
	if served != len(l.blocks) {
		t.Fatalf("served %d/%d; errors: %v", served, len(l.blocks), errs)
	}
	if honest.Requests() == 0 {
		t.Fatal("the honest replica was never asked")
	}
	t.Logf("liar asked %d times, honest %d times", liar.Requests(), honest.Requests())
}

var rangeStart = regexp.MustCompile(`^bytes=(\d+)-`)

// TestResumeFromFirstUnverifiedBlock: a body cut after K bytes makes the
// next attempt start exactly at the first block not yet verified, not at
// the start of the span. The origin's Range log shows it.
func TestResumeFromFirstUnverifiedBlock(t *testing.T) {
	l := newLayout(t, uniform(64, 4096), 40)
	o := newOrigin(t, map[string][]byte{"/shard": l.blob()})
	p := faultproxy.New(o.URL)
	defer p.Close()
	const k = 30_000 // bytes each response gets through
	p.TruncateAfter(k)
	// One span covers the shard, so every request after the first is a resume.
	r := newTestResolver(t, &fakeLocator{l: l, urls: []string{p.URL() + "/shard"}}, fastHTTP(), Config{MaxSpan: 1 << 20})
	if _, err := r.Block(context.Background(), l.blocks[0].c); err != nil {
		t.Fatal(err)
	}
	var starts []int64
	for _, h := range o.log() {
		m := rangeStart.FindStringSubmatch(h)
		if m == nil {
			t.Fatalf("request without a Range: %q", h)
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		starts = append(starts, n)
	}
	// Expected: each start is the first block whose end lies past the
	// previous start + k (orderly truncation loses no bytes).
	want := []int64{l.blocks[0].off}
	for {
		next := firstEndingAfter(l, want[len(want)-1]+k)
		if next < 0 {
			break
		}
		want = append(want, l.blocks[next].off)
	}
	if fmt.Sprint(starts) != fmt.Sprint(want) {
		t.Fatalf("Range starts %v, want %v", starts, want)
	}
	t.Logf("%d requests for a %d-byte span cut every %d bytes: starts %v", len(starts), l.size, k, starts)
}

func firstEndingAfter(l *layout, pos int64) int {
	for i, b := range l.blocks {
		if b.off+b.len > pos {
			return i
		}
	}
	return -1
}

// TestCoalescing: reading all blocks of a 256-block shard in order takes
// one read per MaxSpan-sized run of blocks, with or without pipelining,
// and concurrent readers of one block share one read.
func TestCoalescing(t *testing.T) {
	// 256 blocks of 64 KiB with 40-byte gaps: 16 MiB + 10 KiB.
	l := newLayout(t, uniform(256, 64<<10), 40)
	const maxSpan = 1 << 20
	perSpan := int64(maxSpan) / (l.blocks[0].len + l.gap) // 15 whole blocks fit in 1 MiB
	minReads := (int64(len(l.blocks)) + perSpan - 1) / perSpan
	for _, pipelined := range []bool{false, true} {
		t.Run(fmt.Sprintf("pipelined=%v", pipelined), func(t *testing.T) {
			defer func(v bool) { pipelineReads = v }(pipelineReads)
			pipelineReads = pipelined
			cr := &countingReader{inner: synthReader{l}}
			r := newTestResolver(t, &fakeLocator{l: l, urls: []string{"mem://shard"}}, cr, Config{MaxSpan: maxSpan})
			if served, errs := readAll(t, r, l); len(errs) > 0 {
				t.Fatalf("served %d, errors %v", served, errs)
			}
			// ceil(span/MaxSpan) = 17 for 16.01 MiB; whole blocks per read
			// make it ceil(256/15) = 18.
			if got := cr.reads.Load(); got != minReads {
				t.Fatalf("%d reads for %d blocks, want %d (ceil(span/MaxSpan) = %d)",
					got, len(l.blocks), minReads, (l.size+maxSpan-1)/maxSpan)
			}
			if cr.bytes.Load() > l.size {
				t.Fatalf("read %d bytes of a %d-byte shard", cr.bytes.Load(), l.size)
			}
		})
	}
	t.Run("concurrent readers share one read", func(t *testing.T) {
		cr := &countingReader{inner: synthReader{l}, gate: make(chan struct{})}
		r := newTestResolver(t, &fakeLocator{l: l, urls: []string{"mem://shard"}}, cr, Config{MaxSpan: maxSpan})
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := r.Block(context.Background(), l.blocks[3].c)
				if err == nil && !bytes.Equal(b, l.block(3)) {
					err = errors.New("wrong bytes")
				}
				errs <- err
			}()
		}
		for cr.reads.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond) // let the others queue behind the read
		close(cr.gate)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := cr.reads.Load(); n != 1 {
			t.Fatalf("16 concurrent readers of one block made %d reads, want 1", n)
		}
	})
}

// TestCallerDeadline: a caller whose deadline ends returns at once, while
// another caller of the same read still gets its block.
func TestCallerDeadline(t *testing.T) {
	l := newLayout(t, uniform(8, 1024), 40)
	cr := &countingReader{inner: synthReader{l}, gate: make(chan struct{})}
	r := newTestResolver(t, &fakeLocator{l: l, urls: []string{"mem://shard"}}, cr, Config{})
	patient := make(chan error, 1)
	go func() {
		_, err := r.Block(context.Background(), l.blocks[0].c)
		patient <- err
	}()
	for cr.reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	// The gate stays shut until the impatient caller is back: one that
	// waited on the read instead of its own deadline never returns.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	impatient := make(chan error, 1)
	go func() {
		_, err := r.Block(ctx, l.blocks[1].c)
		impatient <- err
	}()
	select {
	case err := <-impatient:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("impatient caller: %v, want deadline exceeded", err)
		}
	case <-time.After(10 * time.Minute): // a hang guard only
		close(cr.gate)
		t.Fatal("the impatient caller waited on the read past its own deadline")
	}
	close(cr.gate)
	if err := <-patient; err != nil {
		t.Fatalf("patient caller: %v", err)
	}
	if n := cr.reads.Load(); n != 1 {
		t.Fatalf("%d reads, want 1", n)
	}
}

// TestStreamingMemoryIsFlat streams a 1 GiB shard block by block through a
// reader that generates its bytes, and checks the heap does not grow with
// the bytes streamed: read-ahead and caches are bounded.
func TestStreamingMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 1 GiB")
	}
	l := newLayout(t, uniform(1024, 1<<20), 40)
	cfg := Config{MaxSpan: 8 << 20, ReadAheadBytes: 32 << 20, BlockCacheBytes: 16 << 20}
	r := newTestResolver(t, &fakeLocator{l: l, urls: []string{"mem://shard"}}, synthReader{l}, cfg)
	var peak uint64
	var ms runtime.MemStats
	for i, b := range l.blocks {
		got, err := r.Block(context.Background(), b.c)
		if err != nil || len(got) != int(b.len) {
			t.Fatalf("block %d: %v", i, err)
		}
		if i%64 == 63 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	held, reserved, orderLen := r.readAhead.stats()
	t.Logf("streamed %d MiB: peak heap in use %d MiB; read-ahead now holds %d KiB, %d KiB booked, %d order entries",
		l.size>>20, peak>>20, held>>10, reserved>>10, orderLen)
	// Bound: block cache + read-ahead + two spans in flight + slack for
	// the runtime and test (the layout's keys are a few hundred KiB).
	limit := uint64(cfg.BlockCacheBytes+cfg.ReadAheadBytes+2*cfg.MaxSpan) + 64<<20
	if peak > limit {
		t.Fatalf("peak heap %d MiB while streaming exceeds %d MiB", peak>>20, limit>>20)
	}
	if orderLen > 1024 {
		t.Fatalf("read-ahead order grew to %d entries", orderLen)
	}
}

// TestReadAheadSharedByStreams: streams read together take their
// read-ahead from one budget. Eight readers of eight parts of a shard,
// with ReadAheadBytes smaller than MaxSpan, never ask storage for more
// than the budget (or minDemandSpan) in one read, every block arrives,
// and when they are done no read-ahead stays booked.
func TestReadAheadSharedByStreams(t *testing.T) {
	l := newLayout(t, uniform(512, 64<<10), 40)
	cfg := Config{MaxSpan: 8 << 20, ReadAheadBytes: 4 << 20}
	cr := &countingReader{inner: synthReader{l}}
	r := newTestResolver(t, &fakeLocator{l: l, urls: []string{"mem://shard"}}, cr, cfg)
	const streams = 8
	per := len(l.blocks) / streams
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := s * per; i < (s+1)*per; i++ {
				b, err := r.Block(context.Background(), l.blocks[i].c)
				if err != nil || !bytes.Equal(b, l.block(i)) {
					errs <- fmt.Errorf("stream %d block %d: %v", s, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, limit := cr.longest.Load(), max(cfg.ReadAheadBytes, minDemandSpan); got > limit {
		t.Errorf("longest read %d KiB, want at most %d KiB (MaxSpan is %d KiB)", got>>10, limit>>10, cfg.MaxSpan>>10)
	}
	// A pipelined read started by the last blocks taken may still be
	// running: its booking is returned when it ends.
	var held, reserved int64
	for range 200 {
		if held, reserved, _ = r.readAhead.stats(); reserved == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if reserved != 0 || held > cfg.ReadAheadBytes {
		t.Errorf("after the streams: %d bytes held, %d booked", held, reserved)
	}
}

// TestAbandonedRead: when the only caller of a read gives up, the read is
// cancelled, and the next caller of its blocks starts a fresh read instead
// of joining the cancelled one (and inheriting its error).
func TestAbandonedRead(t *testing.T) {
	l := newLayout(t, uniform(8, 1024), 40)
	cr := &countingReader{inner: synthReader{l}, gate: make(chan struct{})}
	r := newTestResolver(t, &fakeLocator{l: l, urls: []string{"mem://shard"}}, cr, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.Block(ctx, l.blocks[0].c); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first caller: %v, want deadline exceeded", err)
	}
	close(cr.gate)
	b, err := r.Block(context.Background(), l.blocks[2].c)
	if err != nil || !bytes.Equal(b, l.block(2)) {
		t.Fatalf("second caller: %v", err)
	}
	if n := cr.reads.Load(); n != 2 {
		t.Fatalf("%d reads, want 2 (the abandoned one and a fresh one)", n)
	}
}
