package blobstore

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

// TestFetchPolicyAddresses: special ranges are refused unless a CIDR or
// address in the list holds them; public addresses always pass.
func TestFetchPolicyAddresses(t *testing.T) {
	none, err := ParseFetchPolicy("")
	if err != nil {
		t.Fatal(err)
	}
	some, err := ParseFetchPolicy("127.0.0.1, 10.1.0.0/16, blobs.internal")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr       string
		none, some bool
	}{
		{"127.0.0.1", false, true},        // loopback, allowed by address
		{"127.0.0.2", false, false},       // other loopback addresses stay refused
		{"::1", false, false},             // IPv6 loopback
		{"::ffff:127.0.0.1", false, true}, // IPv4-mapped is the IPv4 address
		{"10.1.2.3", false, true},         // inside the allowed CIDR
		{"10.2.0.1", false, false},        // private, outside it
		{"192.168.1.1", false, false},     // private
		{"169.254.169.254", false, false}, // link-local (cloud metadata)
		{"100.64.0.1", false, false},      // CGNAT
		{"0.0.0.0", false, false},         // unspecified
		{"fd00::1", false, false},         // unique local
		{"93.184.215.14", true, true},     // public
		{"2606:4700::1", true, true},      // public IPv6
	} {
		ip := netip.MustParseAddr(tc.addr)
		if got := none.AddrAllowed(ip); got != tc.none {
			t.Errorf("empty list, %s: allowed=%v, want %v", tc.addr, got, tc.none)
		}
		if got := some.AddrAllowed(ip); got != tc.some {
			t.Errorf("list, %s: allowed=%v, want %v", tc.addr, got, tc.some)
		}
	}
	for _, bad := range []string{"http://x", "a b", "user@host"} {
		if _, err := ParseFetchPolicy(bad); err == nil {
			t.Errorf("entry %q accepted", bad)
		}
	}
}

// TestHTTPPolicyRefusesLoopback: with a policy, a loopback origin is not
// contacted at all (by IP, by a name resolving to it, or through a
// redirect from an allowed origin), the error names no server answer and
// is not retried; allowing the address makes the same read work.
func TestHTTPPolicyRefusesLoopback(t *testing.T) {
	var hits atomic.Int64
	secret := "pprof-like secret answer"
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, secret)
	}))
	defer origin.Close()
	port := origin.URL[strings.LastIndex(origin.URL, ":")+1:]
	ctx := context.Background()

	strict, _ := ParseFetchPolicy("")
	cfg := fastHTTPConfig
	cfg.Policy = strict
	h := NewHTTP(cfg, nil)
	for _, u := range []string{origin.URL + "/blob", "http://localhost:" + port + "/blob"} {
		_, err := h.ReadURL(ctx, u, 0, -1)
		if !errors.Is(err, ErrAddressRefused) {
			t.Fatalf("read %s: %v, want ErrAddressRefused", u, err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error echoes the server's answer: %v", err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("refused origin was contacted %d times", n)
	}

	// A redirect from an allowed origin to the refused one is refused too.
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, origin.URL+"/blob", http.StatusFound)
	}))
	defer redirector.Close()
	onlyRedirector, _ := ParseFetchPolicy("localhost")
	cfg.Policy = onlyRedirector
	redirPort := redirector.URL[strings.LastIndex(redirector.URL, ":")+1:]
	if _, err := NewHTTP(cfg, nil).ReadURL(ctx, "http://localhost:"+redirPort+"/", 0, -1); !errors.Is(err, ErrAddressRefused) {
		t.Fatalf("redirect to a refused address: %v, want ErrAddressRefused", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("refused origin was contacted %d times through a redirect", n)
	}

	allowed, _ := ParseFetchPolicy("127.0.0.1")
	cfg.Policy = allowed
	rc, err := NewHTTP(cfg, nil).ReadURL(ctx, origin.URL+"/blob", 0, -1)
	if err != nil {
		t.Fatalf("allowed loopback: %v", err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != secret {
		t.Fatalf("allowed read: %q", b)
	}
}
