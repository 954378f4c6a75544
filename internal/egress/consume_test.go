package egress

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

func TestConsumeSpoolDedupDeadLetterAndReport(t *testing.T) {
	spoolDir, totalsDir := t.TempDir(), t.TempDir()
	p, _ := openTestProducer(t, spoolDir, nil)
	for i := range 100 {
		space := []string{"did:key:a", "did:key:b", ""}[i%3]
		_ = p.Record(testEvent(i, space, 10))
	}
	_ = p.Record(testEvent(5, "did:key:c", 10))          // same id again: a duplicate
	_ = p.w.append([]byte(`{"v":1,"id":"","bytes":-1}`)) // valid record, invalid event
	_ = p.w.append([]byte(`not json`))
	next := testEvent(200, "did:key:a", 1000)
	next.ServedAt = next.ServedAt.AddDate(0, 0, 1)
	_ = p.Record(next)
	p.Close()

	reg := prometheus.NewRegistry()
	cfg := ConsumeConfig{SpoolDir: spoolDir, TotalsDir: totalsDir, Once: true, Registerer: reg, Logger: quietLog()}
	if err := RunConsume(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	// Running again changes nothing (cursor moved; and ids are remembered).
	if err := RunConsume(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rc := ReportConfig{TotalsDir: totalsDir, From: next.ServedAt.AddDate(0, 0, -1), To: next.ServedAt}
	if err := RunReport(context.Background(), &out, rc); err != nil {
		t.Fatal(err)
	}
	want := `DAY         SPACE      BYTES  EVENTS
2025-03-04  -          330    33
2025-03-04  did:key:a  340    34
2025-03-04  did:key:b  330    33
2025-03-05  did:key:a  1000   1
total                  2000   101
`
	if out.String() != want {
		t.Fatalf("report:\n%s\nwant:\n%s", out.String(), want)
	}
	rc.Space = "did:key:a"
	ts, err := ReadTotals(context.Background(), rc)
	if err != nil || len(ts) != 2 || ts[0].Bytes != 340 || ts[1].Bytes != 1000 {
		t.Fatalf("space filter: %+v %v", ts, err)
	}
	dead, _ := os.ReadFile(filepath.Join(totalsDir, DefaultDeadLetterName))
	if n := strings.Count(string(dead), "\n"); n != 2 {
		t.Fatalf("dead letters: %d lines: %s", n, dead)
	}
	if !registered(t, reg, "cargate_egress_messages_dead_lettered_total") {
		t.Fatal("dead-letter metric not registered")
	}
}

func TestPebbleTotalsIdempotent(t *testing.T) {
	store, err := openPebbleTotals(t.TempDir(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer store.close()
	testTotalsIdempotent(t, store)
}

// testTotalsIdempotent is shared by every totals store.
func testTotalsIdempotent(t *testing.T, store totalsStore) {
	ctx := context.Background()
	batch := []Event{*testEvent(1, "did:key:x", 5), *testEvent(2, "did:key:x", 7), *testEvent(1, "did:key:x", 5)}
	dups, err := store.apply(ctx, batch)
	if err != nil || dups != 1 {
		t.Fatalf("first apply: dups %d err %v", dups, err)
	}
	dups, err = store.apply(ctx, batch[:2]) // a redelivery
	if err != nil || dups != 2 {
		t.Fatalf("second apply: dups %d err %v", dups, err)
	}
	day := batch[0].day()
	ts, err := store.totals(ctx, "", day, day)
	if err != nil || len(ts) != 1 || ts[0] != (Total{Day: day, Space: "did:key:x", Bytes: 12, Events: 2}) {
		t.Fatalf("totals %+v %v", ts, err)
	}
}

// TestForgetOldIDs: the embedded store drops the seen markers of days
// older than the retention, once a day, and keeps later ones and totals.
func TestForgetOldIDs(t *testing.T) {
	store, err := openPebbleTotals(t.TempDir(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer store.close()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	old, recent := *testEvent(1, "did:key:a", 5), *testEvent(2, "did:key:a", 7)
	old.ServedAt, recent.ServedAt = now.AddDate(0, 0, -40), now.AddDate(0, 0, -34)
	if _, err := store.apply(context.Background(), []Event{old, recent}); err != nil {
		t.Fatal(err)
	}
	c := &consumer{store: store, log: quietLog(), retention: 35 * 24 * time.Hour}
	c.forgetOldIDs(now)
	for _, tc := range []struct {
		ev   Event
		want bool
	}{{old, false}, {recent, true}} {
		if ok, err := store.has([]byte("s/" + tc.ev.day() + "/" + tc.ev.ID)); err != nil || ok != tc.want {
			t.Errorf("marker of %s (served %s): present %v, want %v (%v)", tc.ev.ID, tc.ev.day(), ok, tc.want, err)
		}
	}
	if tot, _ := store.get([]byte("t/" + old.day() + "/did:key:a")); tot.Bytes != 5 || tot.Events != 1 {
		t.Errorf("old day's total %+v: totals must stay", tot)
	}
	// Later the same day it does not run again; the next day it does.
	if c.forgotDay != now.Format(dayLayout) {
		t.Errorf("forgotDay %q", c.forgotDay)
	}
}
