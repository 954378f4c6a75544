package egress

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/internal/prom"
)

// producerMetrics are the metrics of a Producer and of the Shipper reading its spool.
// The event counts and the spool depth are read from p when scraped: the
// request path updates no metric.
type producerMetrics struct {
	produced    prometheus.CounterFunc
	spooled     prometheus.CounterFunc
	dropped     prometheus.CounterFunc
	shed        prometheus.CounterFunc
	spoolErrors prometheus.CounterFunc
	shipped     prometheus.Counter
	shipFailed  prometheus.Counter
	rejected    prometheus.Counter
	spoolBytes  prometheus.Gauge
	spoolEvents prometheus.GaugeFunc
}

func newProducerMetrics(reg prometheus.Registerer, p *Producer) *producerMetrics {
	c := func(name, help string) prometheus.Counter {
		return prom.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Namespace: "cargate", Subsystem: "egress", Name: name, Help: help}))
	}
	g := func(name, help string) prometheus.Gauge {
		return prom.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "cargate", Subsystem: "egress", Name: name, Help: help}))
	}
	cf := func(name, help string, f func() int64) prometheus.CounterFunc {
		return prom.Register(reg, prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "cargate", Subsystem: "egress", Name: name, Help: help},
			func() float64 { return float64(f()) }))
	}
	return &producerMetrics{
		produced:    cf("events_produced_total", "Egress events created by the middleware.", p.produced),
		spooled:     cf("events_spooled_total", "Egress events written to the local spool.", p.w.appendedCount),
		dropped:     cf("events_dropped_total", "Egress events dropped because the spool was full (lost billing data).", p.dropped.Load),
		shed:        cf("events_shed_total", "Egress events of responses that served no byte, shed because their client sent more than its share per second.", p.shed.Load),
		spoolErrors: cf("spool_write_errors_total", "Egress events lost to a spool write error (disk full, I/O error).", p.failures.Load),
		shipped:     c("events_shipped_total", "Egress events acknowledged by the queue."),
		shipFailed:  c("ship_failures_total", "Egress event sends that failed and will be retried."),
		rejected:    c("events_rejected_total", "Egress events the queue rejected permanently; written to the shipper's dead-letter file."),
		spoolBytes:  g("spool_bytes", "Bytes of spool segments on disk."),
		spoolEvents: prom.Register(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "cargate", Subsystem: "egress", Name: "spool_events",
			Help: "Egress events in the spool not yet acknowledged by the queue (as seen by this process's shipper)."},
			func() float64 { return float64(p.pending()) })),
	}
}
