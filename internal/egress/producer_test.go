package egress

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"github.com/cargate/cargate/internal/spool"
)

// TestSpoolFullDropsAndCounts: when the spool is full, events are dropped,
// counted in the metric and logged once per period; shipping frees room.
func TestSpoolFullDropsAndCounts(t *testing.T) {
	dir := t.TempDir()
	var logged bytes.Buffer
	p, reg := openTestProducer(t, dir, func(c *ProducerConfig) {
		c.MaxBytes = 2 * spool.MinSegmentBytes
		c.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	})
	defer p.Close()
	var full int
	for i := range 3000 {
		if err := p.Record(testEvent(i, "", 1)); errors.Is(err, ErrSpoolFull) {
			full++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if full == 0 {
		t.Fatal("spool never reported full")
	}
	if got := value(t, p.m.dropped); int(got) != full {
		t.Fatalf("dropped metric %v, want %d", got, full)
	}
	if n := bytes.Count(logged.Bytes(), []byte("spool full")); n != 1 {
		t.Fatalf("want one rate-limited log line, got %d", n)
	}
	if !registered(t, reg, "cargate_egress_events_dropped_total") {
		t.Fatalf("dropped metric not registered")
	}
	// Reading and committing everything, then Shipped, frees room at once.
	r, err := spool.OpenReader(dir, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	var read int
	for {
		recs, _ := r.Next(1000)
		if len(recs) == 0 {
			break
		}
		read += len(recs)
	}
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if v := value(t, p.m.spoolEvents); int(v) != read {
		t.Fatalf("spool_events %v before Shipped, want %d", v, read)
	}
	p.Shipped(read)
	if err := p.Record(testEvent(10000, "", 1)); err != nil {
		t.Fatalf("after draining: %v", err)
	}
}
