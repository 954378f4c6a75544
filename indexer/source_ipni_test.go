package indexer_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/multiformats/go-multihash"

	"github.com/cargate/cargate/indexer"
	"github.com/cargate/cargate/internal/blobstore"
)

// A second Service with the first as its IPNI source finds the first's
// content, every block of it, through the IPNI path.
func TestIPNISourceFindsThroughAnotherIndexer(t *testing.T) {
	f := newFixture(t)
	srv := serveAPI(t, f.svc)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer broken.Close()
	src, err := indexer.NewIPNISource(indexer.IPNIConfig{
		Tiers:       [][]string{{broken.URL}, {srv.URL}},
		TierTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The first indexer's blobs are file:// URLs: read them through its Dir.
	second, _, store2, _ := newService(t, []indexer.ClaimFinder{src}, blobstore.NewRouter(nil, f.blobs))
	ctx := context.Background()
	want, err := f.svc.Query(ctx, indexer.Query{Hashes: []multihash.Multihash{f.root.Hash()}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := second.Query(ctx, indexer.Query{Hashes: []multihash.Multihash{f.root.Hash()}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Claims) != len(want.Claims) || len(got.Indexes) != 1 {
		t.Fatalf("through IPNI: %d claims, %d indexes; want %d, 1", len(got.Claims), len(got.Indexes), len(want.Claims))
	}
	for c := range want.Claims {
		if _, ok := got.Claims[c]; !ok {
			t.Fatalf("claim %s missing", c)
		}
	}
	// A block inside the DAG: found through the index claim published under it.
	var block multihash.Multihash
	for _, idx := range want.Indexes {
		for _, slices := range idx.View.Shards().Iterator() {
			for h := range slices.Iterator() {
				block = h
			}
		}
	}
	if _, err := second.Query(ctx, indexer.Query{Hashes: []multihash.Multihash{block}}); err != nil {
		t.Fatalf("block %s: %v", block.B58String(), err)
	}
	if ids, _ := store2.Find(ctx, f.root.Hash()); len(ids) != 0 {
		t.Fatalf("remote claims must not be stored, found %v", ids)
	}
	// Unknown: an empty result, not unavailable (a node answered 404).
	unknown, _ := multihash.Sum([]byte("unknown"), multihash.SHA2_256, -1)
	if res, err := second.Query(ctx, indexer.Query{Hashes: []multihash.Multihash{unknown}}); err != nil || !res.Empty() {
		t.Fatalf("unknown: %v, %v; want an empty result", res, err)
	}
}

// Every node down: ErrUnavailable, and the HTTP API answers 503 with Retry-After.
func TestIPNISourceAllDown(t *testing.T) {
	src, err := indexer.NewIPNISource(indexer.IPNIConfig{Tiers: [][]string{{"http://127.0.0.1:1"}}, TierTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	svc, _, _, _ := newService(t, []indexer.ClaimFinder{src}, nil)
	srv := serveAPI(t, svc)
	unknown, _ := multihash.Sum([]byte("unknown"), multihash.SHA2_256, -1)
	resp, body := get(t, srv.URL+"/claims?multihash="+mb(unknown))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("all sources down: %d %q (Retry-After %q), want 503 with Retry-After", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
}
