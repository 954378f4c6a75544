package ship

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/internal/prom"
)

// metrics are a Shipper's. They keep the cargate_egress_ names they had
// when the shipper lived in package egress.
type metrics struct {
	shipped  prometheus.Counter
	failed   prometheus.Counter
	rejected prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prom.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Namespace: "cargate", Subsystem: "egress", Name: name, Help: help}))
	}
	return &metrics{
		shipped:  c("events_shipped_total", "Egress events acknowledged by the queue."),
		failed:   c("ship_failures_total", "Egress event sends that failed and will be retried."),
		rejected: c("events_rejected_total", "Egress events the queue rejected permanently; written to the shipper's dead-letter file."),
	}
}
