package blobstore

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/internal/prom"
)

// metrics are the blob read metrics shared by every backend; the backend
// label ("http", "s3", "dir") tells them apart.
type metrics struct {
	requests *prometheus.CounterVec   // backend, op, outcome
	bytes    *prometheus.CounterVec   // backend
	errors   *prometheus.CounterVec   // backend, stage
	latency  *prometheus.HistogramVec // backend, op
	retries  *prometheus.CounterVec   // backend
}

// newMetrics registers the collectors on reg, or reuses the ones already
// registered there, so several instrumented stores can share a registry.
// A nil reg gives working but unregistered collectors.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cargate", Subsystem: "blobstore", Name: "requests_total",
			Help: "Blob store operations by backend, operation and outcome (ok, not_found, canceled, error).",
		}, []string{"backend", "op", "outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cargate", Subsystem: "blobstore", Name: "read_bytes_total",
			Help: "Bytes delivered to callers by range reads.",
		}, []string{"backend"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cargate", Subsystem: "blobstore", Name: "errors_total",
			Help: "Errors by backend and stage: open (before any byte) or body (while streaming).",
		}, []string{"backend", "stage"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "cargate", Subsystem: "blobstore", Name: "request_duration_seconds",
			Help:    "Time until an operation returned (for reads: until the body was ready).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}, []string{"backend", "op"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cargate", Subsystem: "blobstore", Name: "retries_total",
			Help: "Requests retried after a transient failure (5xx, 429, connection error).",
		}, []string{"backend"}),
	}
	if reg == nil {
		return m
	}
	m.requests = prom.Register(reg, m.requests)
	m.bytes = prom.Register(reg, m.bytes)
	m.errors = prom.Register(reg, m.errors)
	m.latency = prom.Register(reg, m.latency)
	m.retries = prom.Register(reg, m.retries)
	return m
}

func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return "error"
	}
}

// observe records one finished operation.
func (m *metrics) observe(backend, op string, start time.Time, err error) {
	m.requests.WithLabelValues(backend, op, outcome(err)).Inc()
	m.latency.WithLabelValues(backend, op).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, ErrNotFound) {
		m.errors.WithLabelValues(backend, "open").Inc()
	}
}

// countBody wraps a read body so delivered bytes and mid-body errors are
// counted.
func (m *metrics) countBody(backend string, rc io.ReadCloser) io.ReadCloser {
	return &countingBody{rc: rc, bytes: m.bytes.WithLabelValues(backend), errs: m.errors.WithLabelValues(backend, "body")}
}

type countingBody struct {
	rc     io.ReadCloser
	bytes  prometheus.Counter
	errs   prometheus.Counter
	failed bool
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	if n > 0 {
		c.bytes.Add(float64(n))
	}
	if err != nil && err != io.EOF && !c.failed {
		c.failed = true
		c.errs.Inc()
	}
	return n, err
}

func (c *countingBody) Close() error { return c.rc.Close() }

// Instrument wraps s so that its operations are counted and timed under the
// given backend label ("s3", "dir", …) on reg. The result is still a Store;
// callers cannot tell the difference.
func Instrument(s Store, backend string, reg prometheus.Registerer) Store {
	return &instrumented{Store: s, backend: backend, m: newMetrics(reg)}
}

type instrumented struct {
	Store
	backend string
	m       *metrics
}

func (i *instrumented) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	start := time.Now()
	err := i.Store.Put(ctx, key, r, size)
	i.m.observe(i.backend, "put", start, err)
	return err
}

// PutFile forwards to the store's FileMover, or copies the file.
func (i *instrumented) PutFile(ctx context.Context, key, path string) error {
	start := time.Now()
	var err error
	if m, ok := i.Store.(FileMover); ok {
		err = m.PutFile(ctx, key, path)
	} else {
		err = putByCopy(ctx, i.Store, key, path)
	}
	i.m.observe(i.backend, "put", start, err)
	return err
}

func putByCopy(ctx context.Context, s Store, key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return s.Put(ctx, key, f, fi.Size())
}

func (i *instrumented) ReadRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := i.Store.ReadRange(ctx, key, off, length)
	i.m.observe(i.backend, "read", start, err)
	if err != nil {
		return nil, err
	}
	return i.m.countBody(i.backend, rc), nil
}

func (i *instrumented) Stat(ctx context.Context, key string) (int64, error) {
	start := time.Now()
	n, err := i.Store.Stat(ctx, key)
	i.m.observe(i.backend, "stat", start, err)
	return n, err
}
