package egress

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	cfg := ProducerConfig{Dir: dir, SegmentBytes: minSpoolSegmentBytes, MaxBytes: 64 << 20, Registerer: reg, Logger: quietLog()}
	if mod != nil {
		mod(&cfg)
	}
	p, err := OpenProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, reg
}

// readAll drains the spool from its cursor without committing.
func readAll(t *testing.T, dir string) []record {
	t.Helper()
	r, err := openSpoolReader(dir, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	var out []record
	for {
		recs, err := r.next(100)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		out = append(out, recs...)
	}
}

func TestSpoolRoundTripAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	p, _ := openTestProducer(t, dir, nil)
	const n = 5000 // ~285 KB of ~57-byte records: spans several 64 KiB segments
	for i := range n {
		if err := p.Record(testEvent(i, "did:key:a", int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := listSegments(dir)
	if len(segs) < 3 {
		t.Fatalf("want several segments, got %d", len(segs))
	}
	recs := readAll(t, dir)
	if len(recs) != n {
		t.Fatalf("read %d records, want %d", len(recs), n)
	}
	for i, rec := range recs {
		ev, _, err := DecodeRecord(rec.payload)
		if err != nil || ev.ID != fmt.Sprintf("ev-%06d", i) || ev.Bytes != int64(i) {
			t.Fatalf("record %d: %+v %v", i, ev, err)
		}
	}
}

func TestSpoolCommitDeletesOnlyAcknowledgedSegments(t *testing.T) {
	dir := t.TempDir()
	p, _ := openTestProducer(t, dir, nil)
	for i := range 5000 { // ~285 KB: five 64 KiB segments
		_ = p.Record(testEvent(i, "", 1))
	}
	r, err := openSpoolReader(dir, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	before, _ := listSegments(dir)
	recs, _ := r.next(2000) // into the second segment
	last := recs[len(recs)-1].end
	if err := r.commit(last); err != nil {
		t.Fatal(err)
	}
	after, _ := listSegments(dir)
	if after[0] != last.Seg || len(after) >= len(before) {
		t.Fatalf("segments before %v, after %v, cursor %+v", before, after, last)
	}
	r.close()
	// A new reader resumes after the cursor.
	if got := len(readAll(t, dir)); got != 3000 {
		t.Fatalf("resumed reader saw %d records, want 3000", got)
	}
	p.Close()
}

func TestSpoolTornRecordSkipped(t *testing.T) {
	cases := []struct {
		name string
		tear func(b []byte) []byte // applied to the last segment's bytes
		want int
	}{
		// A crash mid-write leaves half a record.
		{"truncated payload", func(b []byte) []byte { return b[:len(b)-5] }, 9},
		// Only part of the header reached the file.
		{"truncated header", func(b []byte) []byte { return append(b, 7, 0, 0) }, 10},
		// Power loss can leave garbage where the last record was.
		{"corrupt checksum", func(b []byte) []byte { b[len(b)-3] ^= 0xff; return b }, 9},
		// Zero-filled tail from a file extended but not written.
		{"zero tail", func(b []byte) []byte { return append(b, make([]byte, 64)...) }, 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p, _ := openTestProducer(t, dir, nil)
			for i := range 10 {
				_ = p.Record(testEvent(i, "", 1))
			}
			p.Close()
			segs, _ := listSegments(dir)
			path := filepath.Join(dir, segName(segs[len(segs)-1]))
			b, _ := os.ReadFile(path)
			if err := os.WriteFile(path, tc.tear(b), 0o644); err != nil {
				t.Fatal(err)
			}
			// Reopening seals the torn segment; records after it are read.
			var logged bytes.Buffer
			p, _ = openTestProducer(t, dir, func(c *ProducerConfig) { c.Logger = slog.New(slog.NewTextHandler(&logged, nil)) })
			_ = p.Record(testEvent(100, "", 1))
			p.Close()
			r, _ := openSpoolReader(dir, slog.New(slog.NewTextHandler(&logged, nil)))
			recs, err := r.next(100)
			r.close()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != tc.want+1 {
				t.Fatalf("got %d records, want %d", len(recs), tc.want+1)
			}
			for _, rec := range recs {
				if _, _, err := DecodeRecord(rec.payload); err != nil {
					t.Fatalf("mis-parsed record: %v", err)
				}
			}
			if tc.want < 10 && !bytes.Contains(logged.Bytes(), []byte("torn")) {
				t.Fatalf("no log line about the torn record: %s", logged.String())
			}
		})
	}
}

func TestSpoolFullDropsAndCounts(t *testing.T) {
	dir := t.TempDir()
	var logged bytes.Buffer
	p, reg := openTestProducer(t, dir, func(c *ProducerConfig) {
		c.MaxBytes = 2 * minSpoolSegmentBytes
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
	// Acknowledging frees room: commit everything, then writes succeed again.
	r, _ := openSpoolReader(dir, quietLog())
	for {
		recs, _ := r.next(1000)
		if len(recs) == 0 {
			break
		}
	}
	_ = p.Record(testEvent(9999, "", 1)) // seals the full segment past the cursor
	if err := r.commit(r.pos); err != nil {
		t.Fatal(err)
	}
	r.close()
	p.w.refreshTotal()
	if err := p.Record(testEvent(10000, "", 1)); err != nil {
		t.Fatalf("after draining: %v", err)
	}
}

func TestSpoolSingleWriter(t *testing.T) {
	dir := t.TempDir()
	p, _ := openTestProducer(t, dir, nil)
	defer p.Close()
	if _, err := OpenProducer(ProducerConfig{Dir: dir}); err == nil {
		t.Fatal("second producer on one spool was allowed")
	}
}

func TestProducerConfigValidate(t *testing.T) {
	if err := (&ProducerConfig{}).Validate(); err == nil {
		t.Fatal("empty Dir accepted")
	}
	if err := (&ProducerConfig{Dir: "x", MaxBytes: 1 << 20, SegmentBytes: 1 << 20}).Validate(); err == nil {
		t.Fatal("MaxBytes < 2*SegmentBytes accepted")
	}
	if err := (&ProducerConfig{Dir: "x"}).Validate(); err != nil {
		t.Fatal(err)
	}
}
