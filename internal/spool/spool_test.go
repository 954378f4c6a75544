package spool

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testRecord is record i: 49 bytes, about an egress event's size, its
// number readable.
func testRecord(i int) []byte {
	return fmt.Appendf(nil, "record-%06d-%s", i, strings.Repeat("x", 35))
}

func openTestWriter(t testing.TB, dir string, mod func(*Config)) *Writer {
	t.Helper()
	cfg := Config{Dir: dir, SegmentBytes: MinSegmentBytes, MaxBytes: 64 << 20, Logger: quietLog()}
	if mod != nil {
		mod(&cfg)
	}
	w, err := OpenWriter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// appendN appends records from..to-1, failing the test on an error.
func appendN(t testing.TB, w *Writer, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := w.Append(testRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
}

// readAll drains the spool from its cursor without committing.
func readAll(t *testing.T, dir string) []record {
	t.Helper()
	r, err := OpenReader(dir, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
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

func TestRoundTripAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, nil)
	const n = 5000 // ~285 KB: spans several 64 KiB segments
	appendN(t, w, 0, n)
	if err := w.Close(); err != nil {
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
		if !bytes.Equal(rec.payload, testRecord(i)) {
			t.Fatalf("record %d is %q", i, rec.payload)
		}
	}
}

func TestCommitDeletesOnlyCommittedSegments(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, nil)
	defer w.Close()
	appendN(t, w, 0, 5000) // ~285 KB: five 64 KiB segments
	r, err := OpenReader(dir, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	before, _ := listSegments(dir)
	recs, _ := r.Next(2000) // into the second segment
	if len(recs) != 2000 || !r.Uncommitted() {
		t.Fatalf("read %d records, uncommitted %v", len(recs), r.Uncommitted())
	}
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	after, _ := listSegments(dir)
	if after[0] != r.done.Seg || len(after) >= len(before) {
		t.Fatalf("segments before %v, after %v, cursor %+v", before, after, r.done)
	}
	// Rewind goes back to the cursor, not to the start.
	_, _ = r.Next(10)
	r.Rewind()
	if again, _ := r.Next(1); len(again) != 1 || !bytes.Equal(again[0], testRecord(2000)) {
		t.Fatalf("after Rewind read %q, want record 2000", again)
	}
	r.Close()
	// A new reader resumes after the cursor, and Count agrees.
	if got := len(readAll(t, dir)); got != 3000 {
		t.Fatalf("resumed reader saw %d records, want 3000", got)
	}
	if got := Count(dir); got != 3000 {
		t.Fatalf("Count %d, want 3000", got)
	}
}

func TestTornRecordSkipped(t *testing.T) {
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
			w := openTestWriter(t, dir, nil)
			appendN(t, w, 0, 10)
			w.Close()
			segs, _ := listSegments(dir)
			path := filepath.Join(dir, segName(segs[len(segs)-1]))
			b, _ := os.ReadFile(path)
			if err := os.WriteFile(path, tc.tear(b), 0o644); err != nil {
				t.Fatal(err)
			}
			// Reopening seals the torn segment; records after it are read.
			var logged bytes.Buffer
			w = openTestWriter(t, dir, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logged, nil)) })
			appendN(t, w, 100, 101)
			w.Close()
			r, _ := OpenReader(dir, slog.New(slog.NewTextHandler(&logged, nil)))
			recs, err := r.Next(100)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != tc.want+1 {
				t.Fatalf("got %d records, want %d", len(recs), tc.want+1)
			}
			for i, rec := range recs[:tc.want] {
				if !bytes.Equal(rec, testRecord(i)) {
					t.Fatalf("record %d mis-parsed: %q", i, rec)
				}
			}
			if !bytes.Equal(recs[tc.want], testRecord(100)) {
				t.Fatalf("record after the tear: %q", recs[tc.want])
			}
			if tc.want < 10 && !bytes.Contains(logged.Bytes(), []byte("torn")) {
				t.Fatalf("no log line about the torn record: %s", logged.String())
			}
		})
	}
}

// TestFullRefusesUntilCommitted: at MaxBytes Append refuses with ErrFull
// and writes nothing; a commit behind a sealed segment frees room.
func TestFullRefusesUntilCommitted(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, func(c *Config) { c.MaxBytes = 2 * MinSegmentBytes })
	defer w.Close()
	var full, ok int
	for i := range 3000 {
		if err := w.Append(testRecord(i)); errors.Is(err, ErrFull) {
			full++
		} else if err != nil {
			t.Fatal(err)
		} else {
			ok++
		}
	}
	if full == 0 || w.Appended() != int64(ok) {
		t.Fatalf("%d refused, %d appended, Appended() %d", full, ok, w.Appended())
	}
	if w.Bytes() > 2*MinSegmentBytes {
		t.Fatalf("spool of %d bytes past its bound", w.Bytes())
	}
	r, _ := OpenReader(dir, quietLog())
	for {
		recs, _ := r.Next(1000)
		if len(recs) == 0 {
			break
		}
	}
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	w.Refresh()
	if err := w.Append(testRecord(10000)); err != nil {
		t.Fatalf("after draining: %v", err)
	}
}

func TestSingleWriterSingleReader(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, nil)
	defer w.Close()
	if _, err := OpenWriter(Config{Dir: dir}); err == nil {
		t.Fatal("second writer on one spool was allowed")
	}
	r, err := OpenReader(dir, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := OpenReader(dir, quietLog()); err == nil {
		t.Fatal("second reader on one spool was allowed")
	}
}

func TestAppendOutOfRange(t *testing.T) {
	w := openTestWriter(t, t.TempDir(), nil)
	defer w.Close()
	for _, n := range []int{0, MaxRecordBytes + 1} {
		if err := w.Append(make([]byte, n)); err == nil || errors.Is(err, ErrFull) {
			t.Errorf("record of %d bytes: %v", n, err)
		}
	}
	if w.Appended() != 0 {
		t.Fatalf("refused records counted: %d", w.Appended())
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (&Config{}).Validate(); err == nil {
		t.Fatal("empty Dir accepted")
	}
	if err := (&Config{Dir: "x", MaxBytes: 1 << 20, SegmentBytes: 1 << 20}).Validate(); err == nil {
		t.Fatal("MaxBytes < 2*SegmentBytes accepted")
	}
	if err := (&Config{Dir: "x"}).Validate(); err != nil {
		t.Fatal(err)
	}
}
