package gateway

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestRangesPerRFC9110 checks Range handling against RFC 9110 §14 over a
// 16,000-byte file: satisfiable parts are served, unsatisfiable ones
// dropped (416 when none is left), suffix ranges clamp, overlapping parts
// are coalesced so no request sends the file more than once, and too
// many parts are answered with the whole file (like nginx's max_ranges).
func TestRangesPerRFC9110(t *testing.T) {
	bs, root := fixture(t)
	h, err := New(Config{}, bs, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	file := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	const size = 16000
	many := make([]string, maxRanges+1)
	for i := range many {
		many[i] = fmt.Sprintf("%d-%d", i*500, i*500+9)
	}
	type part struct{ from, to int } // inclusive, as in Content-Range
	cases := []struct {
		name   string
		rng    string
		status int
		parts  []part // for 206; one part is a single-part answer
	}{
		{"one of two parts unsatisfiable", "bytes=0-3,999999-", 206, []part{{0, 3}}},
		{"only part unsatisfiable", "bytes=999999-", 416, nil},
		{"every part unsatisfiable", "bytes=20000-20010,999999-", 416, nil},
		{"suffix past the size clamps", "bytes=-20000", 206, []part{{0, size - 1}}},
		{"suffix inside the size", "bytes=-10", 206, []part{{size - 10, size - 1}}},
		{"empty suffix is unsatisfiable", "bytes=-0", 416, nil},
		{"last byte past the size clamps", "bytes=15990-99999", 206, []part{{15990, size - 1}}},
		{"16 copies of the whole file coalesce", "bytes=" + strings.Repeat("0-,", 15) + "0-", 206, []part{{0, size - 1}}},
		{"overlapping parts coalesce", "bytes=0-99,50-149", 206, []part{{0, 149}}},
		{"two disjoint parts", "bytes=0-3,1020-1030", 206, []part{{0, 3}, {1020, 1030}}},
		{"unsatisfiable middle part dropped", "bytes=0-3,999999-,8000-8003", 206, []part{{0, 3}, {8000, 8003}}},
		{"too many parts: the whole file", "bytes=" + strings.Join(many, ","), 200, nil},
		{"not a byte range: ignored", "bytes=abc", 200, nil},
	}
	for _, c := range cases {
		rec, aborted := serveOrAbort(t, h, "/ipfs/"+root.String()+"/big.bin", c.rng)
		if aborted {
			t.Errorf("%s (%.60s): the response was aborted", c.name, c.rng)
			continue
		}
		if rec.Code != c.status {
			t.Errorf("%s (%.60s): status %d, want %d; body %.80q", c.name, c.rng, rec.Code, c.status, rec.Body.String())
			continue
		}
		body := rec.Body.Bytes()
		switch {
		case c.status == 416:
			if got := rec.Header().Get("Content-Range"); got != fmt.Sprintf("bytes */%d", size) {
				t.Errorf("%s: Content-Range %q, want bytes */%d", c.name, got, size)
			}
		case c.status == 200:
			if !bytes.Equal(body, file) {
				t.Errorf("%s: 200 with %d bytes, want the whole file", c.name, len(body))
			}
		case len(c.parts) == 1:
			p := c.parts[0]
			if got := rec.Header().Get("Content-Range"); got != fmt.Sprintf("bytes %d-%d/%d", p.from, p.to, size) {
				t.Errorf("%s: Content-Range %q", c.name, got)
			}
			if !bytes.Equal(body, file[p.from:p.to+1]) {
				t.Errorf("%s: %d bytes, want %d of the file", c.name, len(body), p.to+1-p.from)
			}
		default:
			got := readParts(t, rec.Header().Get("Content-Type"), body)
			if len(got) != len(c.parts) {
				t.Errorf("%s: %d parts, want %d", c.name, len(got), len(c.parts))
				continue
			}
			for i, p := range c.parts {
				if want := fmt.Sprintf("bytes %d-%d/%d", p.from, p.to, size); got[i].rng != want || !bytes.Equal(got[i].data, file[p.from:p.to+1]) {
					t.Errorf("%s: part %d is %q (%d bytes), want %s", c.name, i, got[i].rng, len(got[i].data), want)
				}
			}
		}
	}
}

// serveOrAbort serves a GET with a Range, reporting a handler abort
// (http.ErrAbortHandler) instead of panicking.
func serveOrAbort(t *testing.T, h http.Handler, target, rng string) (rec *httptest.ResponseRecorder, aborted bool) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				panic(p)
			}
			aborted = true
		}
	}()
	return serve(t, h, "GET", target, []string{"Range", rng}), false
}

type gotPart struct {
	rng  string
	data []byte
}

func readParts(t *testing.T, contentType string, body []byte) []gotPart {
	t.Helper()
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("Content-Type %q: want multipart/byteranges", contentType)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var out []gotPart
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, gotPart{p.Header.Get("Content-Range"), data})
	}
}
