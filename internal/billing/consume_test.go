package billing

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/internal/egress"
	"github.com/cargate/cargate/internal/ship"
)

func TestConsumeSpoolDedupDeadLetterAndReport(t *testing.T) {
	spoolDir, totalsDir := t.TempDir(), t.TempDir()
	p, _ := openTestProducer(t, spoolDir)
	for i := range 100 {
		space := []string{"did:key:a", "did:key:b", ""}[i%3]
		_ = p.Record(testEvent(i, space, 10))
	}
	_ = p.Record(testEvent(5, "did:key:c", 10)) // same id again: a duplicate
	bad := testEvent(300, "", 1)
	bad.Bytes = -1
	_ = p.Record(bad) // a record, but not a countable event
	// Undecodable records are egress's DecodeRecord's (TestDecodeRecordMalformed).
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
	dead, _ := os.ReadFile(filepath.Join(totalsDir, ship.DefaultDeadLetterName))
	if n := strings.Count(string(dead), "\n"); n != 1 || !strings.Contains(string(dead), "ev-000300") {
		t.Fatalf("dead letters: %d lines: %s", n, dead)
	}
	if v := metric(t, reg, "cargate_egress_messages_dead_lettered_total"); v != 1 {
		t.Fatalf("dead-letter metric %v, want 1", v)
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
	batch := []egress.Event{*testEvent(1, "did:key:x", 5), *testEvent(2, "did:key:x", 7), *testEvent(1, "did:key:x", 5)}
	dups, err := store.apply(ctx, batch)
	if err != nil || dups != 1 {
		t.Fatalf("first apply: dups %d err %v", dups, err)
	}
	dups, err = store.apply(ctx, batch[:2]) // a redelivery
	if err != nil || dups != 2 {
		t.Fatalf("second apply: dups %d err %v", dups, err)
	}
	day := batch[0].Day()
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
	if _, err := store.apply(context.Background(), []egress.Event{old, recent}); err != nil {
		t.Fatal(err)
	}
	c := &consumer{store: store, log: quietLog(), retention: 35 * 24 * time.Hour}
	c.forgetOldIDs(now)
	for _, tc := range []struct {
		ev   egress.Event
		want bool
	}{{old, false}, {recent, true}} {
		if ok, err := store.has([]byte("s/" + tc.ev.Day() + "/" + tc.ev.ID)); err != nil || ok != tc.want {
			t.Errorf("marker of %s (served %s): present %v, want %v (%v)", tc.ev.ID, tc.ev.Day(), ok, tc.want, err)
		}
	}
	if tot, _ := store.get([]byte("t/" + old.Day() + "/did:key:a")); tot.Bytes != 5 || tot.Events != 1 {
		t.Errorf("old day's total %+v: totals must stay", tot)
	}
	// Later the same day it does not run again; the next day it does.
	if c.forgotDay != now.Format(dayLayout) {
		t.Errorf("forgotDay %q", c.forgotDay)
	}
}
