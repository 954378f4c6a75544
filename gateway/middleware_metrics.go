package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/internal/prom"
)

// WithMetrics records every response: count by response format and status,
// latency, and bytes written.
func WithMetrics(next http.Handler, reg prometheus.Registerer) http.Handler {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cargate_http_requests_total",
		Help: "HTTP responses by response format and status code.",
	}, []string{"format", "code"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "cargate_http_request_duration_seconds",
		Help:    "Time to serve a response, by response format.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"format"})
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cargate_http_response_bytes_total",
		Help: "Body bytes written to clients, by response format.",
	}, []string{"format"})
	requests = prom.Register(reg, requests)
	latency = prom.Register(reg, latency)
	sent = prom.Register(reg, sent)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		cw := &countingWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			f := Format(cw.Header().Get("Content-Type"))
			requests.WithLabelValues(f, strconv.Itoa(cw.code)).Inc()
			latency.WithLabelValues(f).Observe(time.Since(start).Seconds())
			sent.WithLabelValues(f).Add(float64(cw.n))
		}()
		next.ServeHTTP(cw, r)
	})
}

// Format names a response's format from its Content-Type: raw, car, tar,
// codec (dag-json, dag-cbor, json, cbor), html (listings and errors) or
// unixfs (file bytes).
func Format(contentType string) string {
	ct, _, _ := strings.Cut(contentType, ";")
	switch {
	case ct == "application/vnd.ipld.raw":
		return "raw"
	case ct == "application/vnd.ipld.car":
		return "car"
	case ct == "application/x-tar":
		return "tar"
	case strings.HasPrefix(ct, "application/vnd.ipld.dag-"), ct == "application/json", ct == "application/cbor":
		return "codec"
	case ct == "":
		return "none"
	}
	return "unixfs"
}

type countingWriter struct {
	http.ResponseWriter
	code        int
	n           int64
	wroteHeader bool
}

func (c *countingWriter) WriteHeader(code int) {
	if !c.wroteHeader {
		c.code, c.wroteHeader = code, true
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	c.wroteHeader = true
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
