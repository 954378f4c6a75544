package blobstore

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cargate/cargate/internal/retry"
)

// TestS3StalledBody: an S3 endpoint that sends part of a ranged body and
// then goes quiet fails the read with ErrStalled after StallTimeout,
// instead of hanging until the caller's deadline. The endpoint is a stub
// (the SDK does not check who answers), so no S3 server is needed.
func TestS3StalledBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Range", "bytes 0-99999/100000")
		w.Header().Set("Content-Length", "100000")
		w.WriteHeader(http.StatusPartialContent)
		w.Write(make([]byte, 1000))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // stall until the client gives up
	}))
	defer srv.Close()
	s, err := NewS3(context.Background(), S3Config{
		Bucket: "b", Endpoint: srv.URL, AccessKey: "k", SecretKey: "s",
		StallTimeout: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := s.ReadRange(ctx, "k", 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	// Without stall detection the read would end only with the caller's
	// 10 s deadline, in a context error rather than ErrStalled.
	n, err := io.Copy(io.Discard, rc)
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("read %d bytes, err %v; want ErrStalled", n, err)
	}
}

// TestS3LeavesRetriesToTheCaller: an S3 read whose context says the caller
// retries (the resolver's) is one request to an endpoint that keeps
// answering 503, not the SDK's three attempts.
func TestS3LeavesRetriesToTheCaller(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "<Error><Code>SlowDown</Code></Error>", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	s, err := NewS3(context.Background(), S3Config{Bucket: "b", Endpoint: srv.URL, AccessKey: "k", SecretKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang guard only
	defer cancel()
	if _, err := s.ReadRange(retry.CallerRetries(ctx), "k", 0, 100); err == nil {
		t.Fatal("a read of an endpoint answering 503 succeeded")
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("requests = %d, want 1: the caller's budget counts retries", n)
	}
}
