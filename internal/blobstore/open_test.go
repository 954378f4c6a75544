package blobstore

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseS3Spec(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		want    S3Config
		wantErr string
	}{
		{"bucket only", "s3://b", S3Config{Bucket: "b"}, ""},                                // AWS defaults
		{"prefix", "s3://b/some/prefix/", S3Config{Bucket: "b", Prefix: "some/prefix"}, ""}, // slashes trimmed
		{"all params", "s3://b/p?endpoint=http://127.0.0.1:7070&region=auto&public-url=https://cdn.example/x",
			S3Config{Bucket: "b", Prefix: "p", Endpoint: "http://127.0.0.1:7070", Region: "auto", PublicURL: "https://cdn.example/x"}, ""},
		{"no bucket", "s3:///p", S3Config{}, "missing bucket"},                         // host empty
		{"unknown param", "s3://b?regoin=x", S3Config{}, "unknown parameter"},          // typo caught
		{"bad path-style", "s3://b?path-style=maybe", S3Config{}, "path-style"},        // not a bool
		{"credentials in spec", "s3://k:s@b", S3Config{}, "credentials do not belong"}, // never in specs
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseS3Spec(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.PathStyle != nil {
				t.Fatalf("PathStyle set without path-style param")
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	cfg, err := parseS3Spec("s3://b?path-style=false")
	if err != nil || cfg.PathStyle == nil || *cfg.PathStyle {
		t.Fatalf("path-style=false: %+v, %v", cfg, err)
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "blobs")
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*Dir); !ok {
		t.Fatalf("Open(path) = %T, want *Dir", s)
	}
	if s, err = Open(ctx, "file://"+dir); err != nil {
		t.Fatal(err)
	} else if _, ok := s.(*Dir); !ok {
		t.Fatalf("Open(file://) = %T", s)
	}
	s, err = Open(ctx, "s3://bucket/pre?endpoint=http://127.0.0.1:1&region=us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.URL("k/k.blob"), "http://127.0.0.1:1/bucket/pre/k/k.blob"; got != want {
		t.Fatalf("URL = %q, want %q", got, want)
	}
	for _, bad := range []string{"", "gs://bucket", "s3://b?endpoint=notaurl"} {
		if _, err := Open(ctx, bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

func TestS3PublicURL(t *testing.T) {
	f := false
	tests := []struct {
		name string
		cfg  S3Config
		want string // URL("")
	}{
		{"endpoint path style", S3Config{Bucket: "b", Endpoint: "http://127.0.0.1:7070/"}, "http://127.0.0.1:7070/b/"},
		{"endpoint with prefix", S3Config{Bucket: "b", Prefix: "/x/y/", Endpoint: "http://h:1"}, "http://h:1/b/x/y/"},
		{"endpoint virtual host", S3Config{Bucket: "b", Endpoint: "https://r2.example", PathStyle: &f}, "https://b.r2.example/"},
		{"aws", S3Config{Bucket: "b", Region: "eu-west-1"}, "https://b.s3.eu-west-1.amazonaws.com/"},
		{"r2 auto region", S3Config{Bucket: "b", Region: "auto", Endpoint: "https://acct.r2.cloudflarestorage.com"}, "https://acct.r2.cloudflarestorage.com/b/"},
		{"explicit", S3Config{Bucket: "b", Endpoint: "http://h:1", PublicURL: "https://cdn.example/blobs/"}, "https://cdn.example/blobs/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_ENDPOINT_URL", "")
			t.Setenv("AWS_ENDPOINT_URL_S3", "")
			tc.cfg.AccessKey, tc.cfg.SecretKey = "a", "b"
			s, err := NewS3(context.Background(), tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.URL(""); got != tc.want {
				t.Fatalf("URL(\"\") = %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := NewS3(context.Background(), S3Config{}); err == nil {
		t.Fatal("no bucket accepted")
	}
}
