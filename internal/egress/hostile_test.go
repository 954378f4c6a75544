package egress

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// discard is a ResponseWriter that keeps nothing: a 50 MiB body costs no
// memory in the test.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }

// TestLongPathStillBilled: a response behind a path of almost 1 MiB used
// to make an event too large for the spool, and 50 MiB went unbilled. The
// path is now cut, with a marker, and the event kept.
func TestLongPathStillBilled(t *testing.T) {
	dir := t.TempDir()
	p, _ := openTestProducer(t, dir, nil)
	const size = 50 << 20
	chunk := make([]byte, 1<<20)
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for n := 0; n < size; n += len(chunk) {
			w.Write(chunk)
		}
	}), p)
	long := "/ipfs/bafyLong/" + strings.Repeat("a", 1<<20-100)
	h.ServeHTTP(&discard{h: http.Header{}}, httptest.NewRequest("GET", long, nil))
	p.Close()
	evs := spooled(t, dir)
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1: the response behind a long path went unbilled", len(evs))
	}
	ev := evs[0]
	if ev.Bytes != size || ev.Resource != "bafyLong" {
		t.Errorf("event %s %d bytes, want bafyLong %d", ev.Resource, ev.Bytes, size)
	}
	if len(ev.Path) > maxPathBytes+64 || !strings.HasPrefix(ev.Path, "/aaaa") || !strings.Contains(ev.Path, truncatedMarker) {
		t.Errorf("path of %d bytes (%.40q…): want it cut to about %d bytes with the marker", len(ev.Path), ev.Path, maxPathBytes)
	}
}

// TestFloodingClientCannotPushOutOthers: one address floods with HEADs
// (nothing served) behind long paths until the spool would be full; the
// events of another client, who was served bytes, are still spooled.
func TestFloodingClientCannotPushOutOthers(t *testing.T) {
	dir := t.TempDir()
	p, _ := openTestProducer(t, dir, func(c *ProducerConfig) { c.MaxBytes = 4 << 20 })
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead {
			w.Write([]byte("paid for"))
		}
	}), p)
	flood := "/ipfs/bafyFlood/" + strings.Repeat("f", 64<<10)
	for i := 0; i < 4000; i++ {
		path := flood
		if i >= 2000 {
			path = "/ipfs/bafyFlood/x" // small ones fill what the large ones left
		}
		r := httptest.NewRequest("HEAD", path, nil)
		r.RemoteAddr = "192.0.2.66:4000"
		h.ServeHTTP(&discard{h: http.Header{}}, r)
	}
	r := httptest.NewRequest("GET", "/ipfs/bafyHonest/file", nil)
	r.RemoteAddr = "198.51.100.7:5000"
	h.ServeHTTP(&discard{h: http.Header{}}, r)
	p.Close()
	honest := 0
	for _, ev := range spooled(t, dir) {
		if ev.Resource == "bafyHonest" && ev.Bytes == 8 {
			honest++
		}
	}
	if honest != 1 {
		t.Errorf("the honest client's event was not spooled after another address flooded")
	}
}
