package resolver

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/internal/prom"
)

type metrics struct {
	reads          *prometheus.CounterVec
	readBytes      prometheus.Counter
	readSeconds    prometheus.Histogram
	verifyFailures prometheus.Counter
	// positionFailures counts block positions given up: reason "bounds"
	// (unusable, dropped before any read) or "read" (a read at it failed).
	positionFailures *prometheus.CounterVec
	panics           prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cargate_resolver_reads_total",
			Help: "Coalesced shard reads by outcome (ok or error).",
		}, []string{"outcome"}),
		readBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cargate_resolver_read_blocks_total",
			Help: "Blocks read and verified from shards.",
		}),
		readSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cargate_resolver_read_seconds",
			Help:    "Duration of coalesced shard reads.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		verifyFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cargate_resolver_verification_failures_total",
			Help: "Blocks whose stored bytes did not match their hash (never served).",
		}),
		positionFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cargate_resolver_position_failures_total",
			Help: "Block positions given up by reason: bounds (length or offset unusable) or read (a read there failed; the next place is tried).",
		}, []string{"reason"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cargate_resolver_recovered_panics_total",
			Help: "Panics in resolver goroutines turned into read errors.",
		}),
	}
	m.reads = prom.Register(reg, m.reads)
	m.readBytes = prom.Register(reg, m.readBytes)
	m.readSeconds = prom.Register(reg, m.readSeconds)
	m.verifyFailures = prom.Register(reg, m.verifyFailures)
	m.positionFailures = prom.Register(reg, m.positionFailures)
	m.panics = prom.Register(reg, m.panics)
	return m
}

func (m *metrics) observeRead(start time.Time, blocks int, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.reads.WithLabelValues(outcome).Inc()
	m.readBytes.Add(float64(blocks))
	m.readSeconds.Observe(time.Since(start).Seconds())
}
