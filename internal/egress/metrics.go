package egress

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/internal/prom"
)

// producerMetrics are the metrics of a Producer. They are read from p when
// scraped: the request path updates no metric.
type producerMetrics struct {
	produced    prometheus.CounterFunc
	spooled     prometheus.CounterFunc
	dropped     prometheus.CounterFunc
	shed        prometheus.CounterFunc
	spoolErrors prometheus.CounterFunc
	spoolBytes  prometheus.GaugeFunc
	spoolEvents prometheus.GaugeFunc
}

func newProducerMetrics(reg prometheus.Registerer, p *Producer) *producerMetrics {
	cf := func(name, help string, f func() int64) prometheus.CounterFunc {
		return prom.Register(reg, prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "cargate", Subsystem: "egress", Name: name, Help: help},
			func() float64 { return float64(f()) }))
	}
	gf := func(name, help string, f func() int64) prometheus.GaugeFunc {
		return prom.Register(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "cargate", Subsystem: "egress", Name: name, Help: help},
			func() float64 { return float64(f()) }))
	}
	return &producerMetrics{
		produced:    cf("events_produced_total", "Egress events created by the middleware.", p.produced),
		spooled:     cf("events_spooled_total", "Egress events written to the local spool.", p.w.Appended),
		dropped:     cf("events_dropped_total", "Egress events dropped because the spool was full (lost billing data).", p.dropped.Load),
		shed:        cf("events_shed_total", "Egress events of responses that served no byte, shed because their client sent more than its share per second.", p.shed.Load),
		spoolErrors: cf("spool_write_errors_total", "Egress events lost to a spool write error (disk full, I/O error).", p.failures.Load),
		spoolBytes:  gf("spool_bytes", "Bytes of spool segments on disk.", p.w.Bytes),
		spoolEvents: gf("spool_events", "Egress events in the spool not yet acknowledged by the queue (as seen by this process's shipper).", p.pending),
	}
}
