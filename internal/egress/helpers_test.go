package egress

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cargate/cargate/internal/spool"
)

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func testEvent(i int, space string, n int64) *Event {
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	return &Event{Version: EventVersion, ID: fmt.Sprintf("ev-%06d", i), Space: space, Resource: "bafytest",
		Format: FormatRaw, Status: 200, Bytes: n, ServedAt: at}
}

func openTestProducer(t testing.TB, dir string, mod func(*ProducerConfig)) (*Producer, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := ProducerConfig{Dir: dir, SegmentBytes: spool.MinSegmentBytes, MaxBytes: 64 << 20, Registerer: reg, Logger: quietLog()}
	if mod != nil {
		mod(&cfg)
	}
	p, err := OpenProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, reg
}

// readAll returns the records of dir's spool, from its cursor, without
// committing.
func readAll(t *testing.T, dir string) [][]byte {
	t.Helper()
	r, err := spool.OpenReader(dir, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out [][]byte
	for {
		recs, err := r.Next(100)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		out = append(out, recs...)
	}
}

// spooled returns the events in dir's spool.
func spooled(t *testing.T, dir string) []Event {
	t.Helper()
	var out []Event
	for _, rec := range readAll(t, dir) {
		ev, _, err := DecodeRecord(rec)
		if err != nil {
			t.Fatalf("bad spooled event: %v", err)
		}
		out = append(out, ev)
	}
	return out
}

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
