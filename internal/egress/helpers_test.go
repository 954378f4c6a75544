package egress

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// value reads a counter or gauge.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	if out.Counter != nil {
		return out.Counter.GetValue()
	}
	return out.Gauge.GetValue()
}

// registered reports whether reg exposes a metric family called name.
func registered(t *testing.T, reg *prometheus.Registry, name string) bool {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return true
		}
	}
	return false
}

func mustJSON(t *testing.T, ev *Event) []byte {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recordSpace reports space as the gateway does: through the writer
// Middleware hands down (the resolver's SpaceRecorder), when there is one.
func recordSpace(w http.ResponseWriter, space string) {
	if rec, ok := w.(interface{ RecordSpace(string) }); ok {
		rec.RecordSpace(space)
	}
}
