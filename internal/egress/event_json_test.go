package egress

import (
	"encoding/json"
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
