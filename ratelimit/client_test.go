package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestClientKey(t *testing.T) {
	trusted, err := ParseTrusted("10.0.0.0/8, 192.168.1.1, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	key := ClientKey(trusted)
	none := ClientKey(nil)
	for _, c := range []struct {
		name, peer string
		xff        []string
		want       string
		wantNone   string // without trusted proxies
	}{
		// A direct client is its address; X-Forwarded-For it writes is ignored.
		{"direct", "203.0.113.7:5000", nil, "203.0.113.7", "203.0.113.7"},
		{"direct, forged header", "203.0.113.7:5000", []string{"1.1.1.1"}, "203.0.113.7", "203.0.113.7"},
		// IPv6 clients are grouped by /64.
		{"ipv6", "[2001:db8:1:2:aaaa::1]:5000", nil, "2001:db8:1:2::/64", "2001:db8:1:2::/64"},
		{"ipv6, same /64", "[2001:db8:1:2:ffff::9]:5000", nil, "2001:db8:1:2::/64", "2001:db8:1:2::/64"},
		{"ipv4-mapped ipv6", "[::ffff:203.0.113.7]:5000", nil, "203.0.113.7", "203.0.113.7"},
		// Through a trusted proxy: the hop it appended.
		{"trusted proxy", "10.1.2.3:5000", []string{"198.51.100.4"}, "198.51.100.4", "10.1.2.3"},
		// The rightmost untrusted hop: what the client wrote to the left is not believed.
		{"forged left part", "10.1.2.3:5000", []string{"1.1.1.1, 198.51.100.4"}, "198.51.100.4", "10.1.2.3"},
		// A chain of trusted proxies is walked, over several header lines.
		{"proxy chain", "10.1.2.3:5000", []string{"1.1.1.1, 198.51.100.4", "192.168.1.1,10.9.9.9"}, "198.51.100.4", "10.1.2.3"},
		{"ipv6 behind proxy", "[fd00::1]:5000", []string{"2001:db8:5:6::7"}, "2001:db8:5:6::/64", "fd00::/64"},
		{"hop with port", "10.1.2.3:5000", []string{"[2001:db8::1]:443"}, "2001:db8::/64", "10.1.2.3"},
		// Every hop trusted: the leftmost one.
		{"all trusted", "10.1.2.3:5000", []string{"10.4.4.4"}, "10.4.4.4", "10.1.2.3"},
		// A hop that is not an address stops at the last one believed.
		{"garbage hop", "10.1.2.3:5000", []string{"1.1.1.1, nonsense, 10.4.4.4"}, "10.4.4.4", "10.1.2.3"},
		{"no header from proxy", "10.1.2.3:5000", nil, "10.1.2.3", "10.1.2.3"},
		// Past maxForwardedHops the walk stops at the last one believed.
		{"endless chain", "10.1.2.3:5000", []string{"1.1.1.1," + strings.Repeat("10.0.0.1,", 40)}, "10.0.0.1", "10.1.2.3"},
		{"empty hops", "10.1.2.3:5000", []string{strings.Repeat(",", 1000) + "198.51.100.4" + strings.Repeat(", ", 1000)}, "198.51.100.4", "10.1.2.3"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := key(r); got != c.want {
			t.Errorf("%s: key %q, want %q", c.name, got, c.want)
		}
		if got := none(r); got != c.wantNone {
			t.Errorf("%s, no trusted proxies: key %q, want %q", c.name, got, c.wantNone)
		}
	}
	if _, err := ParseTrusted("10.0.0.0/8,not-a-cidr"); err == nil {
		t.Error("a bad entry in the trusted proxies was accepted")
	}
}

func TestMiddleware(t *testing.T) {
	clk := newClock()
	l := NewLocal(Limit{Rate: 0.5, Burst: 2}, LocalConfig{Now: clk.now}, prometheus.NewRegistry())
	served := 0
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++ }), l, ClientKey(nil))
	get := func(path, peer string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		r.RemoteAddr = peer
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range 2 {
		if w := get("/ipfs/x", "192.0.2.1:1"); w.Code != 200 {
			t.Fatalf("request %d of the burst: %d", i+1, w.Code)
		}
	}
	clk.add(100 * time.Millisecond)
	w := get("/ipfs/x", "192.0.2.1:2")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "2" {
		t.Fatalf("past the burst: %d, Retry-After %q; want 429, 2 (1.9s rounded up)", w.Code, w.Header().Get("Retry-After"))
	}
	if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") || w.Body.Len() > 200 {
		t.Fatalf("429 body: %q %q", w.Header().Get("Content-Type"), w.Body)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if w := get(p, "192.0.2.1:3"); w.Code != 200 {
			t.Fatalf("%s of a limited client: %d", p, w.Code)
		}
	}
	if w := get("/ipfs/x", "192.0.2.2:1"); w.Code != 200 {
		t.Fatalf("another client: %d", w.Code)
	}
	if served != 2+2+1 {
		t.Fatalf("handler ran %d times, want 5 (a refused request must not reach it)", served)
	}
}

// TestMiddlewareTokenBucket: a token has a bucket of its own beside its
// clients' addresses: spread over addresses, it is still held to one rate.
func TestMiddlewareTokenBucket(t *testing.T) {
	clk := newClock()
	l := NewLocal(Limit{Rate: 0.5, Burst: 2}, LocalConfig{Now: clk.now}, prometheus.NewRegistry())
	token := func(r *http.Request) string {
		if t := r.Header.Get("X-Token"); t != "" {
			return "token:" + t
		}
		return ""
	}
	h := Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), l, ClientKey(nil), token)
	code := func(peer, tok string) int {
		r := httptest.NewRequest("GET", "/ipfs/x", nil)
		r.RemoteAddr = peer
		if tok != "" {
			r.Header.Set("X-Token", tok)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	if code("192.0.2.1:1", "t1") != 200 || code("192.0.2.2:1", "t1") != 200 {
		t.Fatal("the token's burst from two addresses")
	}
	if c := code("192.0.2.3:1", "t1"); c != http.StatusTooManyRequests {
		t.Fatalf("the token past its burst from a fresh address: %d, want 429", c)
	}
	if code("192.0.2.3:1", "") != 200 || code("192.0.2.4:1", "t2") != 200 {
		t.Fatal("other tokens and requests without one are not held by t1's bucket")
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, c := range []struct {
		wait time.Duration
		want int64
	}{
		{0, 1}, {time.Millisecond, 1}, {time.Second, 1}, {time.Second + 1, 2}, {90 * time.Second, 90},
	} {
		if got := RetryAfterSeconds(c.wait); got != c.want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", c.wait, got, c.want)
		}
	}
}
