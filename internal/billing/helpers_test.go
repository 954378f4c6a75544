package billing

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/internal/egress"
)

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func testEvent(i int, space string, n int64) *egress.Event {
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	return &egress.Event{Version: egress.EventVersion, ID: fmt.Sprintf("ev-%06d", i), Space: space, Resource: "bafytest",
		Format: egress.FormatRaw, Status: 200, Bytes: n, ServedAt: at}
}

// openTestProducer opens a spool with small segments, its metrics in the
// returned registry.
func openTestProducer(t testing.TB, dir string) (*egress.Producer, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	p, err := egress.OpenProducer(egress.ProducerConfig{Dir: dir, SegmentBytes: 64 << 10, MaxBytes: 64 << 20, Registerer: reg, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	return p, reg
}

// metric reads the counter or gauge called name from reg (0 when absent).
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		m := f.GetMetric()[0]
		if m.Counter != nil {
			return m.Counter.GetValue()
		}
		return m.Gauge.GetValue()
	}
	return 0
}

func mustJSON(t *testing.T, ev *egress.Event) []byte {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
