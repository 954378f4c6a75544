package egress

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// TestAppendJSONMatchesEncodingJSON checks the hand-written encoder gives
// exactly what encoding/json gives, including escapes and omissions.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 26, 23, 1, 2, 345678900, time.UTC)
	cases := []Event{
		{Version: 1, ID: "01J", Resource: "bafy", Format: FormatRaw, Status: 200, Bytes: 4096, ServedAt: at}, // minimal
		{Version: 1, ID: "x", Space: "did:key:z6Mk", Resource: "bafy", Path: "/a b/c", Format: "unixfs", Status: 206, Bytes: 1, ServedAt: at, TokenID: "t"},
		{Version: 1, ID: "q\"\\", Resource: "<&>", Path: "/\n\r\t\x01\x1f é \u2028\u2029 \xff\xfe", Format: "car", Status: 404, ServedAt: at.Truncate(time.Second)}, // escapes, invalid UTF-8
		{Version: 1, ID: "z", Resource: "r", Format: "tar", Status: 500, Bytes: -1, ServedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{Version: 1, ID: "n", Resource: "r", Format: "raw", Status: 200, ServedAt: time.Date(999, 12, 31, 23, 59, 59, 100, time.UTC)},                      // short year, one trailing-zero-free digit
		{Version: 1, ID: "f", Resource: "r", Format: "raw", Status: 200, ServedAt: time.Date(2026, 7, 8, 9, 10, 11, 120000000, time.FixedZone("X", 3600))}, // not UTC: the general path
	}
	for i, ev := range cases {
		want, err := json.Marshal(&ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := ev.appendJSON(nil); string(got) != string(want) {
			t.Errorf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// TestBinaryRecordRoundTrips checks the binary spool form decodes to the
// event it was made from, that JSON records still decode, and that damaged
// records are malformed, never half-read.
func TestBinaryRecordRoundTrips(t *testing.T) {
	at := time.Date(2026, 11, 26, 23, 1, 2, 345678900, time.UTC)
	evs := []Event{
		{Version: 1, ID: NewID(at), Space: "did:key:z6Mk", Resource: "bafy", Path: "/a b/ü", Format: FormatUnixFS, Status: 206, Bytes: 1 << 40, ServedAt: at, TokenID: "tok"},
		{Version: 1, ID: "x", Resource: "r", Format: FormatRaw, Status: 200, ServedAt: time.Unix(0, 0).UTC()},
	}
	for i, ev := range evs {
		rec := ev.appendBinary(nil)
		got, err := decodeRecord(rec)
		if err != nil || got != ev {
			t.Fatalf("case %d: decoded %+v, %v; want %+v", i, got, err, ev)
		}
		if js, err := decodeRecord(ev.appendJSON(nil)); err != nil || js != ev {
			t.Fatalf("case %d: JSON record decoded %+v, %v", i, js, err)
		}
		for cut := 1; cut < len(rec); cut++ {
			if _, err := decodeRecord(rec[:cut]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("case %d: record cut to %d bytes: err %v, want ErrMalformed", i, cut, err)
			}
		}
		if _, err := decodeRecord(append(rec, 0)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("case %d: trailing byte: err %v", i, err)
		}
	}
	for _, bad := range [][]byte{nil, []byte("not json"), {0x02, 0x01}} {
		if _, err := decodeRecord(bad); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%q: err %v, want ErrMalformed", bad, err)
		}
	}
}

// TestProducerAssignsUniqueIDs: events recorded without an id get one from
// the producer (instance and sequence), distinct within and across
// producers, and it survives the binary record.
func TestProducerAssignsUniqueIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 2 { // two producer instances over the same spool, one after the other
		dir := t.TempDir()
		p, _ := openTestProducer(t, dir, nil)
		for i := range 500 {
			ev := testEvent(i, "", 1)
			ev.ID = ""
			if err := p.Record(ev); err != nil {
				t.Fatal(err)
			}
		}
		p.Close()
		for _, ev := range spooled(t, dir) {
			if len(ev.ID) != 26 || seen[ev.ID] {
				t.Fatalf("record %+v (id seen before: %v)", ev, seen[ev.ID])
			}
			seen[ev.ID] = true
		}
	}
	if len(seen) != 1000 {
		t.Fatalf("%d distinct ids, want 1000", len(seen))
	}
	// A damaged auto-id record is malformed, never half-read.
	ev := testEvent(1, "did:key:a", 1)
	var inst [8]byte
	rec := ev.appendBinaryAutoID(nil, &inst, 300)
	for cut := 1; cut < len(rec); cut++ {
		if _, err := decodeRecord(rec[:cut]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("auto-id record cut to %d bytes: %v", cut, err)
		}
	}
}

// TestDecodeRecordMalformed: records that are not countable events decode
// to an ErrMalformed and a body readable in a dead-letter line.
func TestDecodeRecordMalformed(t *testing.T) {
	dir := t.TempDir()
	p, _ := openTestProducer(t, dir, nil)
	_ = p.w.Append([]byte(`{"v":1,"id":"","bytes":-1}`)) // a record, not a valid event
	_ = p.w.Append([]byte(`not json`))
	_ = p.Record(testEvent(1, "did:key:a", 5))
	p.Close()
	recs := readAll(t, dir)
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	for i, want := range []string{`"bytes":-1`, `not json`} {
		_, body, err := DecodeRecord(recs[i])
		if !errors.Is(err, ErrMalformed) || !bytes.Contains(body, []byte(want)) {
			t.Errorf("record %d: err %v, dead-letter body %q (want it to contain %q)", i, err, body, want)
		}
	}
	if ev, body, err := DecodeRecord(recs[2]); err != nil || body != nil || ev.Bytes != 5 {
		t.Errorf("valid record: %+v %q %v", ev, body, err)
	}
	if _, err := DecodeMessage([]byte(`{"v":1,"id":"x"}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("message without servedAt: %v", err)
	}
}
