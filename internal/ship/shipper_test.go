package ship

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cargate/cargate/internal/egress"
	"github.com/cargate/cargate/internal/spool"
)

// fakeQueue is an in-memory Queue with error injection.
type fakeQueue struct {
	mu       sync.Mutex
	msgs     []Message
	failNext int             // whole Send calls to fail
	failID   map[string]int  // per-message transient failures left
	reject   map[string]bool // per-message permanent rejection
	calls    int
}

func (f *fakeQueue) Send(_ context.Context, msgs []Message) ([]error, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.failNext > 0 {
		f.failNext--
		return nil, errors.New("queue down")
	}
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		switch {
		case f.reject[m.ID]:
			errs[i] = ErrRejected
		case f.failID[m.ID] > 0:
			f.failID[m.ID]--
			errs[i] = errors.New("throttled")
		default:
			f.msgs = append(f.msgs, m)
		}
	}
	return errs, nil
}

func (f *fakeQueue) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.msgs) }

func testEvent(i int) *egress.Event {
	return &egress.Event{Version: egress.EventVersion, ID: fmt.Sprintf("ev-%06d", i), Resource: "bafytest",
		Format: egress.FormatRaw, Status: 200, Bytes: 1, ServedAt: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)}
}

// counted is c's value.
func counted(t *testing.T, c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// segments counts dir's spool segment files.
func segments(t *testing.T, dir string) int {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".seg") {
			n++
		}
	}
	return n
}

func TestShipperRetriesAndDeletesAcknowledgedSegments(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	quiet := slog.New(slog.DiscardHandler)
	p, err := egress.OpenProducer(egress.ProducerConfig{Dir: dir, SegmentBytes: spool.MinSegmentBytes, MaxBytes: 64 << 20, Registerer: reg, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const n = 1500
	for i := range n {
		_ = p.Record(testEvent(i))
	}
	q := &fakeQueue{failNext: 3, failID: map[string]int{"ev-000007": 2}, reject: map[string]bool{"ev-000009": true}}
	s, err := NewShipper(p, q, ShipperConfig{RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond, IdleWait: time.Millisecond,
		Registerer: reg, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for q.count() < n-1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	_ = p.Record(testEvent(n)) // lands in the active segment
	for q.count() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if q.count() != n {
		t.Fatalf("queue holds %d messages, want %d (one rejected)", q.count(), n)
	}
	if v := counted(t, s.m.failed); v < 1 {
		t.Fatalf("ship failures metric %v", v)
	}
	if v := counted(t, s.m.rejected); v != 1 {
		t.Fatalf("rejected metric %v", v)
	}
	if v := counted(t, s.m.shipped); v != n {
		t.Fatalf("shipped metric %v, want %d", v, n)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, DefaultDeadLetterName)); !bytes.Contains(b, []byte("ev-000009")) {
		t.Fatalf("rejected event not in dead-letter file: %s", b)
	}
	if segs := segments(t, dir); segs != 1 {
		t.Fatalf("acknowledged segments left behind: %d segments", segs)
	}
}
