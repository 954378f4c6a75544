package egress

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// producerMetrics are the metrics of a Producer and of the Shipper reading its spool.
type producerMetrics struct {
	produced    prometheus.Counter
	spooled     prometheus.Counter
	dropped     prometheus.Counter
	spoolErrors prometheus.Counter
	shipped     prometheus.Counter
	shipFailed  prometheus.Counter
	rejected    prometheus.Counter
	spoolBytes  prometheus.Gauge
	spoolEvents prometheus.Gauge
}

func newProducerMetrics(reg prometheus.Registerer) *producerMetrics {
	c := func(name, help string) prometheus.Counter {
		return register(reg, prometheus.NewCounter(prometheus.CounterOpts{Namespace: "cargate", Subsystem: "egress", Name: name, Help: help}))
	}
	g := func(name, help string) prometheus.Gauge {
		return register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "cargate", Subsystem: "egress", Name: name, Help: help}))
	}
	return &producerMetrics{
		produced:    c("events_produced_total", "Egress events created by the middleware."),
		spooled:     c("events_spooled_total", "Egress events written to the local spool."),
		dropped:     c("events_dropped_total", "Egress events dropped because the spool was full (lost billing data)."),
		spoolErrors: c("spool_write_errors_total", "Egress events lost to a spool write error (disk full, I/O error)."),
		shipped:     c("events_shipped_total", "Egress events acknowledged by the queue."),
		shipFailed:  c("ship_failures_total", "Egress event sends that failed and will be retried."),
		rejected:    c("events_rejected_total", "Egress events the queue rejected permanently; written to the shipper's dead-letter file."),
		spoolBytes:  g("spool_bytes", "Bytes of spool segments on disk."),
		spoolEvents: g("spool_events", "Egress events in the spool not yet acknowledged by the queue (as seen by this process's shipper)."),
	}
}

// consumerMetrics are the metrics of RunConsume.
type consumerMetrics struct {
	consumed     prometheus.Counter
	duplicates   prometheus.Counter
	deadLettered prometheus.Counter
	receiveErrs  prometheus.Counter
	lag          prometheus.Gauge
}

func newConsumerMetrics(reg prometheus.Registerer) *consumerMetrics {
	c := func(name, help string) prometheus.Counter {
		return register(reg, prometheus.NewCounter(prometheus.CounterOpts{Namespace: "cargate", Subsystem: "egress", Name: name, Help: help}))
	}
	return &consumerMetrics{
		consumed:     c("events_consumed_total", "Egress events added to the totals (after de-duplication)."),
		duplicates:   c("events_duplicate_total", "Egress events dropped because their id was already counted."),
		deadLettered: c("messages_dead_lettered_total", "Malformed egress messages moved to the dead-letter place."),
		receiveErrs:  c("consume_errors_total", "Failed receive, totals or acknowledgement steps (retried)."),
		lag: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "cargate", Subsystem: "egress",
			Name: "consumer_lag_seconds", Help: "Age (now minus servedAt) of the oldest event in the last batch counted."})),
	}
}

// register registers c, or returns the collector already registered under
// the same description, so two components in one process can share a registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}
