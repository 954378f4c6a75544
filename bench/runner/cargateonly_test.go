package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Without a reachable S3 server the S7 rows are not run, with a reason the
// report can print; the bench goes on.
func TestOpenS3WithoutServerSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  config
		want string
	}{
		// nothing named and services off: point at the env var
		{"unset", config{}, s3EndpointEnv},
		// named but nothing listening (port 1 is never served on loopback)
		{"unreachable", config{s3: "http://127.0.0.1:1"}, "not reachable"},
		// not a URL
		{"garbage", config{s3: "::"}, "not a URL"},
	} {
		st, why := openS3(context.Background(), tc.cfg, t.TempDir())
		if st != nil || !strings.HasPrefix(why, "not run: ") || !strings.Contains(why, tc.want) {
			t.Errorf("%s: store %v, reason %q; want none and a reason mentioning %q", tc.name, st, why, tc.want)
		}
	}
}

// Storage reads are summed over backends and outcomes, read operations
// only; bytes over backends.
func TestScrapeStorage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `# HELP cargate_blobstore_requests_total Blob store operations.
cargate_blobstore_requests_total{backend="s3",op="read",outcome="ok"} 40
cargate_blobstore_requests_total{backend="s3",op="read",outcome="error"} 2
cargate_blobstore_requests_total{backend="s3",op="put",outcome="ok"} 7
cargate_blobstore_requests_total{backend="dir",op="read",outcome="ok"} 1
cargate_blobstore_read_bytes_total{backend="s3"} 1.5e+06
cargate_blobstore_read_bytes_total{backend="dir"} 500
cargate_resolver_reads_total{outcome="ok"} 99
`)
	}))
	defer srv.Close()
	c, ok := scrapeStorage(context.Background(), srv.URL)
	if !ok || c.reads != 43 || c.bytes != 1500500 {
		t.Fatalf("got %+v, %v; want 43 reads, 1500500 bytes", c, ok)
	}
	if _, ok := scrapeStorage(context.Background(), ""); ok {
		t.Error("no metrics URL (the reference) must not count as read")
	}
}

// Anything but a query-result CAR is rejected.
func TestValidQueryResultRejects(t *testing.T) {
	for name, body := range map[string][]byte{
		"empty":     nil,
		"not a CAR": []byte("404 page not found\n"),
	} {
		if err := validQueryResult(body); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
