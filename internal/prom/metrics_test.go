package prom

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegisterSharesAndRefusesClashes(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "x_total", Help: "x"}
	a := Register(reg, prometheus.NewCounterVec(opts, []string{"cache"}))
	b := Register(reg, prometheus.NewCounterVec(opts, []string{"cache"}))
	if a != b {
		t.Fatal("a second registration of the same metric did not share the first collector")
	}
	a.WithLabelValues("one").Inc()
	b.WithLabelValues("two").Inc()
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || len(mfs[0].GetMetric()) != 2 {
		t.Fatalf("gathered %v (%v), want one metric with 2 series", mfs, err)
	}
	if c := Register[prometheus.Counter](nil, prometheus.NewCounter(opts)); c == nil {
		t.Fatal("nil registry must still return the collector")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("the same name with other labels must panic")
		}
	}()
	Register(reg, prometheus.NewCounterVec(opts, []string{"other"}))
}
