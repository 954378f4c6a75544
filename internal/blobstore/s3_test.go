package blobstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// serviceEndpoint returns the value of env, the address of a real local
// server started by scripts/services.sh. Without it the test is skipped
// locally, but fails in CI (CI=true), where the servers must be running.
func serviceEndpoint(t testing.TB, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v != "" {
		return v
	}
	msg := env + " is not set: run `scripts/services.sh start && eval \"$(scripts/services.sh env)\"` to run this test against a real server"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// newTestS3 returns an S3 store over a fresh bucket on the local S3 server.
func newTestS3(t *testing.T, prefix string) *S3 {
	t.Helper()
	endpoint := serviceEndpoint(t, "CARGATE_TEST_S3_ENDPOINT")
	ctx := context.Background()
	var rnd [6]byte
	rand.Read(rnd[:])
	bucket := "cargate-test-" + hex.EncodeToString(rnd[:])
	s, err := NewS3(ctx, S3Config{
		Bucket:    bucket,
		Prefix:    prefix,
		Endpoint:  endpoint,
		Region:    envOr("AWS_REGION", "us-east-1"),
		AccessKey: envOr("AWS_ACCESS_KEY_ID", "test"),
		SecretKey: envOr("AWS_SECRET_ACCESS_KEY", "testsecret"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s at %s: %v", bucket, endpoint, err)
	}
	t.Cleanup(func() { deleteBucket(t, s) })
	return s
}

func deleteBucket(t *testing.T, s *S3) {
	ctx := context.Background()
	out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket)})
	if err != nil {
		t.Logf("cleanup: list %s: %v", s.bucket, err)
		return
	}
	for _, o := range out.Contents {
		s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: o.Key})
	}
	if _, err := s.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		t.Logf("cleanup: delete bucket %s: %v", s.bucket, err)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func randomBlob(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func readAll(t *testing.T, rc io.ReadCloser) []byte {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return b
}

func TestS3PutReadStat(t *testing.T) {
	s := newTestS3(t, "shards")
	ctx := context.Background()
	blob := randomBlob(t, 100_000)
	key := "bafytest/bafytest.blob"
	if err := s.Put(ctx, key, bytes.NewReader(blob), int64(len(blob))); err != nil {
		t.Fatalf("put: %v", err)
	}
	// A non-seekable reader of unknown size is spooled and uploaded too.
	other := randomBlob(t, 5000)
	if err := s.Put(ctx, "other/other.blob", io.MultiReader(bytes.NewReader(other)), -1); err != nil {
		t.Fatalf("put unknown size: %v", err)
	}

	size, err := s.Stat(ctx, key)
	if err != nil || size != int64(len(blob)) {
		t.Fatalf("stat = %d, %v; want %d", size, err, len(blob))
	}
	tests := []struct {
		name        string
		off, length int64
		want        []byte
	}{
		{"start", 0, 10, blob[:10]},                       // first bytes
		{"middle", 40_000, 1234, blob[40_000:41_234]},     // inside the blob
		{"end", 99_990, 10, blob[99_990:]},                // last bytes exactly
		{"open ended", 99_000, -1, blob[99_000:]},         // length < 0: to the end
		{"whole", 0, -1, blob},                            // the whole blob
		{"zero length", 5, 0, []byte{}},                   // empty read of a held blob
		{"single byte", 12_345, 1, blob[12_345:12_346]},   // one byte
		{"to the last byte", 1, 99_999, blob[1:100_000]},  // range ending at size-1
		{"large middle", 1000, 90_000, blob[1000:91_000]}, // most of the blob
		{"other", 0, 5000, other},                         // the spooled upload
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := key
			if tc.name == "other" {
				k = "other/other.blob"
			}
			rc, err := s.ReadRange(ctx, k, tc.off, tc.length)
			if err != nil {
				t.Fatalf("ReadRange(%d, %d): %v", tc.off, tc.length, err)
			}
			if got := readAll(t, rc); !bytes.Equal(got, tc.want) {
				t.Fatalf("ReadRange(%d, %d): got %d bytes, want %d (content differs)", tc.off, tc.length, len(got), len(tc.want))
			}
		})
	}
}

func TestS3NotFound(t *testing.T) {
	s := newTestS3(t, "")
	ctx := context.Background()
	blob := randomBlob(t, 1000)
	if err := s.Put(ctx, "k/k.blob", bytes.NewReader(blob), int64(len(blob))); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		key         string
		off, length int64
	}{
		{"missing key", "nope/nope.blob", 0, 10},            // never stored
		{"missing key open ended", "nope/nope.blob", 0, -1}, // never stored
		{"offset past end", "k/k.blob", 5000, 10},           // starts after the blob
		{"range crosses end", "k/k.blob", 990, 20},          // only 10 of 20 bytes exist
		{"zero length past end", "k/k.blob", 2000, 0},       // empty read beyond the blob
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := s.ReadRange(ctx, tc.key, tc.off, tc.length)
			if err == nil {
				rc.Close()
			}
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("ReadRange = %v, want ErrNotFound", err)
			}
		})
	}
	if _, err := s.Stat(ctx, "nope/nope.blob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat(missing) = %v, want ErrNotFound", err)
	}
}

func TestS3PutIdempotent(t *testing.T) {
	s := newTestS3(t, "p")
	ctx := context.Background()
	blob := randomBlob(t, 2048)
	for i := 0; i < 3; i++ {
		if err := s.Put(ctx, "a/a.blob", bytes.NewReader(blob), int64(len(blob))); err != nil {
			t.Fatalf("put #%d: %v", i, err)
		}
	}
	rc, err := s.ReadRange(ctx, "a/a.blob", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, rc); !bytes.Equal(got, blob) {
		t.Fatal("content changed after repeated puts")
	}
	// A wrong declared size is refused rather than stored short.
	if err := s.Put(ctx, "b/b.blob", strings.NewReader("abc"), 10); err == nil {
		t.Fatal("put with wrong size succeeded")
	}
}

func TestS3RouterReadsOwnURL(t *testing.T) {
	s := newTestS3(t, "pre/fix")
	ctx := context.Background()
	blob := randomBlob(t, 4096)
	key := "zQm/zQm.blob"
	if err := s.Put(ctx, key, bytes.NewReader(blob), int64(len(blob))); err != nil {
		t.Fatal(err)
	}
	u := s.URL(key)
	if !strings.HasSuffix(u, "/pre/fix/"+key) || !strings.HasPrefix(u, s.URL("")) {
		t.Fatalf("URL(%q) = %q, base %q", key, u, s.URL(""))
	}
	// No fallback: the read must go through the S3 store (signed), not plain HTTP.
	r := NewRouter(nil, s)
	rc, err := r.ReadURL(ctx, u, 100, 200)
	if err != nil {
		t.Fatalf("router read %s: %v", u, err)
	}
	if got := readAll(t, rc); !bytes.Equal(got, blob[100:300]) {
		t.Fatal("router read returned wrong bytes")
	}
}
