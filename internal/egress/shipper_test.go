package egress

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
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

func TestShipperRetriesAndDeletesAcknowledgedSegments(t *testing.T) {
	dir := t.TempDir()
	p, _ := openTestProducer(t, dir, nil)
	defer p.Close()
	const n = 1500
	for i := range n {
		_ = p.Record(testEvent(i, "", 1))
	}
	q := &fakeQueue{failNext: 3, failID: map[string]int{"ev-000007": 2}, reject: map[string]bool{"ev-000009": true}}
	s, err := NewShipper(p, q, ShipperConfig{RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond, IdleWait: time.Millisecond})
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
	_ = p.Record(testEvent(n, "", 1)) // lands in the active segment
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
	if v := value(t, p.m.shipFailed); v < 1 {
		t.Fatalf("ship failures metric %v", v)
	}
	if v := value(t, p.m.rejected); v != 1 {
		t.Fatalf("rejected metric %v", v)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, DefaultDeadLetterName)); !bytes.Contains(b, []byte("ev-000009")) {
		t.Fatalf("rejected event not in dead-letter file: %s", b)
	}
	if segs, _ := listSegments(dir); len(segs) != 1 {
		t.Fatalf("acknowledged segments left behind: %v", segs)
	}
	if v := value(t, p.m.spoolEvents); v != 0 {
		t.Fatalf("spool events gauge %v after shipping everything", v)
	}
}
