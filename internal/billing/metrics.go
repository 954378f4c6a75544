package billing

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/internal/prom"
)

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
		return prom.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Namespace: "cargate", Subsystem: "egress", Name: name, Help: help}))
	}
	return &consumerMetrics{
		consumed:     c("events_consumed_total", "Egress events added to the totals (after de-duplication)."),
		duplicates:   c("events_duplicate_total", "Egress events dropped because their id was already counted."),
		deadLettered: c("messages_dead_lettered_total", "Malformed egress messages moved to the dead-letter place."),
		receiveErrs:  c("consume_errors_total", "Failed receive, totals or acknowledgement steps (retried)."),
		lag: prom.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "cargate", Subsystem: "egress",
			Name: "consumer_lag_seconds", Help: "Age (now minus servedAt) of the oldest event in the last batch counted."})),
	}
}
