package resolver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestOneRetryBudgetPerRead: a block read over HTTP storage whose every
// source always answers 503 makes maxFailsPerSource requests per source in
// all (counted at the servers), not that times the HTTP reader's own
// retries, and ends in an error.
func TestOneRetryBudgetPerRead(t *testing.T) {
	l := newLayout(t, uniform(4, 1000), 40)
	var requests [2]atomic.Int64
	var urls []string
	for i := range requests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests[i].Add(1)
			w.Header().Set("Retry-After", "0")
			http.Error(w, "down", http.StatusServiceUnavailable)
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL+"/shard")
	}
	r := newTestResolver(t, &fakeLocator{l: l, urls: urls}, fastHTTP(), Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang guard only
	defer cancel()
	if _, err := r.Block(ctx, l.blocks[0].c); err == nil {
		t.Fatal("a read of storage that always fails succeeded")
	}
	if ctx.Err() != nil {
		t.Fatal("the read ran into the hang guard")
	}
	for i := range requests {
		if n := requests[i].Load(); n != maxFailsPerSource {
			t.Errorf("source %d got %d requests, want %d (the read's one budget)", i, n, maxFailsPerSource)
		}
	}
}
