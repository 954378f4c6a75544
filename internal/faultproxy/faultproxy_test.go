package faultproxy

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func origin(t *testing.T, body []byte) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "b", time.Time{}, bytes.NewReader(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t *testing.T, url string, rng string) (*http.Response, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestPassThroughAndFaults(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 10_000)
	p := New(origin(t, body))
	defer p.Close()

	resp, got, err := get(t, p.URL()+"/x", "bytes=10-19")
	if err != nil || resp.StatusCode != http.StatusPartialContent || string(got) != "0123456789" {
		t.Fatalf("pass-through range: %v %v %q", err, resp, got)
	}

	p.FailNext(2)
	for i := 0; i < 2; i++ {
		if resp, _, _ := get(t, p.URL()+"/x", ""); resp.StatusCode != 500 {
			t.Fatalf("failure %d: status %d", i, resp.StatusCode)
		}
	}
	if resp, _, _ := get(t, p.URL()+"/x", ""); resp.StatusCode != 200 {
		t.Fatalf("after failures: status %d", resp.StatusCode)
	}

	p.FlipByte(3)
	_, got, err = get(t, p.URL()+"/x", "")
	if err != nil || got[3] != '3'^0xff || !bytes.Equal(got[4:], body[4:]) {
		t.Fatalf("flip: %v", err)
	}
	p.Clear()

	p.TruncateAfter(500)
	if _, got, err = get(t, p.URL()+"/x", ""); err == nil || len(got) != 500 {
		t.Fatalf("truncate: %d bytes, err %v", len(got), err)
	}
	p.Clear()

	p.ResetAfter(1000)
	if _, got, err = get(t, p.URL()+"/x", ""); err == nil || len(got) > 1000 {
		t.Fatalf("reset: %d bytes, err %v", len(got), err)
	}
	p.Clear()

	p.StallAfter(100, 200*time.Millisecond)
	start := time.Now()
	if _, got, err = get(t, p.URL()+"/x", ""); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("stall: %v", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("stall lasted only %v", d)
	}
	if n := p.Requests(); n != 8 {
		t.Fatalf("Requests() = %d, want 8", n)
	}
}
