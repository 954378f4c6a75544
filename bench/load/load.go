package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Request is one request the driver may send.
type Request struct {
	Path   string      // path and query, appended to Config.BaseURL
	Header http.Header // extra headers; shared, never modified
}

// Config says what to send and how hard.
type Config struct {
	BaseURL     string
	Requests    []Request     // chosen uniformly at random (in order, each once, with Once)
	Concurrency int           // workers (closed loop) or cap on in-flight requests (open loop)
	Rate        float64       // arrivals per second; 0 means closed loop
	Duration    time.Duration // measured phase; ignored with Once
	Warmup      time.Duration // unrecorded phase before it; ignored with Once
	PID         int           // server process to measure; 0 for none
	Seed        uint64        // for the random choice of requests
	Client      *http.Client  // nil means NewClient(Concurrency)
	// Once sends every request exactly once, in list order, from
	// Concurrency closed-loop workers, with no warm-up: the measured phase
	// ends when the last response is read. It is how a cold pass (every
	// key asked for the first time) is timed.
	Once bool
	// BeforeMeasure, when set, is called after the warm-up and just before
	// the measured phase starts (to snapshot server counters, say).
	BeforeMeasure func()
}

// maxLatency bounds the histogram; slower requests are recorded as this.
const maxLatency = time.Minute

// Result is what one measured phase produced.
type Result struct {
	Requests int64                   // completed responses, any status
	Bytes    int64                   // body bytes of completed responses
	Elapsed  time.Duration           // from the first send to the last completion
	Latency  *hdrhistogram.Histogram // microseconds, to the last body byte
	TTFB     *hdrhistogram.Histogram // microseconds, to the first body byte (or the end of an empty body)
	Status   map[int]int64           // completed responses by status
	Errors   map[string]int64        // failed requests by kind
	Server   ProcStats               // the server's use over Elapsed
}

// ReqPerSec is completed responses per second.
func (r *Result) ReqPerSec() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// MBPerSec is body megabytes (10^6) per second.
func (r *Result) MBPerSec() float64 { return float64(r.Bytes) / 1e6 / r.Elapsed.Seconds() }

// Quantile returns the latency at q percent (50, 99, 99.9).
func (r *Result) Quantile(q float64) time.Duration {
	return time.Duration(r.Latency.ValueAtQuantile(q)) * time.Microsecond
}

// TTFBQuantile returns the time to first body byte at q percent.
func (r *Result) TTFBQuantile(q float64) time.Duration {
	return time.Duration(r.TTFB.ValueAtQuantile(q)) * time.Microsecond
}

// Failed counts requests that got no complete response.
func (r *Result) Failed() int64 {
	var n int64
	for _, v := range r.Errors {
		n += v
	}
	return n
}

// NewClient returns a client tuned for load: keep-alive, enough idle
// connections for every worker, no compression, no redirects followed.
func NewClient(conns int) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * conns,
		MaxIdleConnsPerHost: 2 * conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ReadBufferSize:      64 << 10,
		WriteBufferSize:     8 << 10,
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Run runs the warm-up and then the measured phase.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if len(cfg.Requests) == 0 || cfg.Concurrency < 1 || (cfg.Duration <= 0 && !cfg.Once) {
		return nil, errors.New("load: need requests, concurrency >= 1 and a duration (or Once)")
	}
	if cfg.Client == nil {
		cfg.Client = NewClient(cfg.Concurrency)
		defer cfg.Client.CloseIdleConnections()
	}
	targets := make([]target, len(cfg.Requests))
	for i, r := range cfg.Requests {
		u, err := url.Parse(cfg.BaseURL + r.Path)
		if err != nil {
			return nil, fmt.Errorf("load: request %q: %w", r.Path, err)
		}
		targets[i] = target{url: u, header: r.Header}
	}
	if cfg.Warmup > 0 && !cfg.Once {
		if _, err := phase(ctx, cfg, targets, cfg.Warmup, cfg.Seed+1<<32); err != nil {
			return nil, err
		}
	}
	if cfg.BeforeMeasure != nil {
		cfg.BeforeMeasure()
	}
	var sampler *procSampler
	if cfg.PID > 0 {
		sampler = startProcSampler(cfg.PID)
	}
	res, err := phase(ctx, cfg, targets, cfg.Duration, cfg.Seed)
	if sampler != nil {
		st := sampler.stop()
		if res != nil {
			res.Server = st
		}
	}
	return res, err
}

type target struct {
	url    *url.URL
	header http.Header
}

// worker holds one goroutine's tallies, merged when the phase ends.
type worker struct {
	hist   *hdrhistogram.Histogram
	ttfb   *hdrhistogram.Histogram
	status map[int]int64
	errs   map[string]int64
	n      int64
	bytes  int64
	buf    []byte
	rnd    *rand.Rand
}

func newWorker(seed uint64, i int) *worker {
	return &worker{
		hist:   hdrhistogram.New(1, maxLatency.Microseconds(), 3),
		ttfb:   hdrhistogram.New(1, maxLatency.Microseconds(), 3),
		status: map[int]int64{},
		errs:   map[string]int64{},
		buf:    make([]byte, 64<<10),
		rnd:    rand.New(rand.NewPCG(seed, uint64(i))),
	}
}

// onceLimit bounds a Once pass, which has no duration of its own.
const onceLimit = 5 * time.Minute

// phase runs one closed- or open-loop phase of length d. Requests in flight
// when d ends are allowed to finish (up to a grace period), so large bodies
// are not cut off and counted as failures.
func phase(ctx context.Context, cfg Config, targets []target, d time.Duration, seed uint64) (*Result, error) {
	grace := max(10*time.Second, d)
	if cfg.Once {
		d, grace = onceLimit, 0
	}
	reqCtx, cancel := context.WithTimeout(ctx, d+grace)
	defer cancel()
	workers := make([]*worker, cfg.Concurrency)
	for i := range workers {
		workers[i] = newWorker(seed, i)
	}
	start := time.Now()
	stopAt := start.Add(d)
	var wg sync.WaitGroup
	switch {
	case cfg.Once:
		var next atomic.Int64
		for _, w := range workers {
			wg.Go(func() {
				for i := next.Add(1) - 1; i < int64(len(targets)) && reqCtx.Err() == nil; i = next.Add(1) - 1 {
					w.send(reqCtx, cfg.Client, targets[i], time.Now())
				}
			})
		}
	case cfg.Rate > 0:
		due := schedule(reqCtx, start, d, cfg.Rate)
		for _, w := range workers {
			wg.Go(func() {
				for t := range due {
					w.do(reqCtx, cfg.Client, targets, t)
				}
			})
		}
	default:
		for _, w := range workers {
			wg.Go(func() {
				for time.Now().Before(stopAt) && reqCtx.Err() == nil {
					w.do(reqCtx, cfg.Client, targets, time.Now())
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return merge(workers, elapsed), nil
}

// schedule emits the due time of each arrival at rate per second for d.
// When the workers fall behind, due times queue up in the channel and keep
// their original value, so the wait counts in the latency.
func schedule(ctx context.Context, start time.Time, d time.Duration, rate float64) <-chan time.Time {
	n := int(rate * d.Seconds())
	due := make(chan time.Time, n)
	go func() {
		defer close(due)
		for i := range n {
			t := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if wait := time.Until(t); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return
				}
			}
			due <- t
		}
	}()
	return due
}

// do sends one request chosen at random and records its latency from
// since, which is the send time (closed loop) or the due time (open loop).
func (w *worker) do(ctx context.Context, c *http.Client, targets []target, since time.Time) {
	w.send(ctx, c, targets[w.rnd.IntN(len(targets))], since)
}

// send sends t and records its latency and time to first body byte from
// since.
func (w *worker) send(ctx context.Context, c *http.Client, t target, since time.Time) {
	req := (&http.Request{
		Method:     http.MethodGet,
		URL:        t.url,
		Header:     t.header,
		Host:       t.url.Host,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
	}).WithContext(ctx)
	if req.Header == nil {
		req.Header = http.Header{}
	}
	resp, err := c.Do(req)
	if err != nil {
		w.errs[errKind(err)]++
		return
	}
	n, first, err := drain(resp.Body, w.buf)
	resp.Body.Close()
	if err != nil {
		w.errs[errKind(err)]++
		return
	}
	record(w.hist, time.Since(since))
	record(w.ttfb, first.Sub(since))
	w.status[resp.StatusCode]++
	w.n++
	w.bytes += n
}

func record(h *hdrhistogram.Histogram, d time.Duration) {
	if err := h.RecordValue(d.Microseconds()); err != nil {
		_ = h.RecordValue(maxLatency.Microseconds())
	}
}

// drain reads r to the end and returns the byte count and when the first
// byte arrived (the end, for an empty body).
func drain(r io.Reader, buf []byte) (int64, time.Time, error) {
	var n int64
	var first time.Time
	for {
		m, err := r.Read(buf)
		if m > 0 && n == 0 {
			first = time.Now()
		}
		n += int64(m)
		if err != nil {
			if first.IsZero() {
				first = time.Now()
			}
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return n, first, err
		}
	}
}

func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "aborted"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "net:" + oe.Op
	}
	return "other"
}

func merge(workers []*worker, elapsed time.Duration) *Result {
	res := &Result{
		Elapsed: elapsed,
		Latency: hdrhistogram.New(1, maxLatency.Microseconds(), 3),
		TTFB:    hdrhistogram.New(1, maxLatency.Microseconds(), 3),
		Status:  map[int]int64{},
		Errors:  map[string]int64{},
	}
	for _, w := range workers {
		res.Latency.Merge(w.hist)
		res.TTFB.Merge(w.ttfb)
		res.Requests += w.n
		res.Bytes += w.bytes
		for k, v := range w.status {
			res.Status[k] += v
		}
		for k, v := range w.errs {
			res.Errors[k] += v
		}
	}
	return res
}
