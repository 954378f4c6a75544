package indexer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/multiformats/go-multicodec"
	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-libstoracha/capabilities/assert"
	ctypes "github.com/storacha/go-libstoracha/capabilities/types"
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/did"
	"github.com/storacha/go-ucanto/principal/ed25519/signer"
	"github.com/storacha/indexing-service/pkg/service/queryresult"

	"github.com/cargate/cargate/indexer"
	"github.com/cargate/cargate/internal/blobstore"
	"github.com/cargate/cargate/internal/importer"
)

// storeRaw writes a claim straight into the claim store under keys, as a
// claim stored before intake checked anything would be: no check runs.
func storeRaw(t *testing.T, f *fixture, d delegation.Delegation, keys ...multihash.Multihash) {
	t.Helper()
	data, err := io.ReadAll(d.Archive())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.Put(context.Background(), cid.MustParse(d.Link().String()), data, keys); err != nil {
		t.Fatal(err)
	}
}

// putBlob stores data as a blob and returns its digest and a location
// claim for it signed by the fixture's key.
func putBlob(t *testing.T, f *fixture, data []byte) (multihash.Multihash, delegation.Delegation) {
	t.Helper()
	digest, _ := multihash.Sum(data, multihash.SHA2_256, -1)
	key := blobstore.Key(digest)
	if err := f.blobs.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(f.blobs.URL(key))
	loc, err := assert.Location.Delegate(f.id, f.id, f.id.DID().String(),
		assert.LocationCaveats{Content: ctypes.FromHash(digest), Location: []url.URL{*u}}, delegation.WithNoExpiration())
	if err != nil {
		t.Fatal(err)
	}
	return digest, loc
}

func indexClaim(t *testing.T, f *fixture, root cid.Cid, index multihash.Multihash) delegation.Delegation {
	t.Helper()
	d, err := assert.Index.Delegate(f.id, f.id, f.id.DID().String(), assert.IndexCaveats{
		Content: cidlink.Link{Cid: root},
		Index:   cidlink.Link{Cid: cid.NewCidV1(uint64(multicodec.Car), index)},
	}, delegation.WithNoExpiration())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func query(t *testing.T, svc *indexer.Service, q indexer.Query) *indexer.Result {
	t.Helper()
	res, err := svc.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// locationsOf returns the sorted contents (multihash strings) of the
// location claims in res.
func locationsOf(res *indexer.Result) []string {
	var out []string
	for _, c := range res.Claims {
		if c.Kind == "assert/location" {
			out = append(out, c.Content.B58String())
		}
	}
	slices.Sort(out)
	return out
}

// An unknown multihash answers 200 with an empty query result (as
// Storacha's v1.13.4 service does), which Storacha's own reader and ours
// decode; the HTTP client reads it as not found, so a gateway over it
// still answers 404.
func TestUnknownIsEmptyResult(t *testing.T) {
	f := newFixture(t)
	srv := serveAPI(t, f.svc)
	unknown, _ := multihash.Sum([]byte("nobody has this"), multihash.SHA2_256, -1)
	resp, body := get(t, srv.URL+"/claims?multihash="+mb(unknown))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d (%s), want 200", resp.StatusCode, body)
	}
	qr, err := queryresult.Extract(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("storacha Extract: %v", err)
	}
	if len(qr.Claims()) != 0 || len(qr.Indexes()) != 0 {
		t.Fatalf("storacha sees %d claims, %d indexes; want none", len(qr.Claims()), len(qr.Indexes()))
	}
	res, err := indexer.DecodeResult(bytes.NewReader(body))
	if err != nil || !res.Empty() {
		t.Fatalf("ours: %v, %v; want an empty result", res, err)
	}
	c, _ := indexer.NewClient(srv.URL, indexer.ClientConfig{Timeout: 5 * time.Second})
	if _, err := c.Query(context.Background(), indexer.Query{Hashes: []multihash.Multihash{unknown}}); !errors.Is(err, indexer.ErrNotFound) {
		t.Fatalf("client: %v, want ErrNotFound", err)
	}
}

// For a root (or any block), only the shards whose slices hold it get
// their location claims in the answer, as Storacha's service does.
func TestQueryOnlyShardsHoldingTheBlock(t *testing.T) {
	f := newFixture(t)
	res := queryRoot(t, f)
	var idx indexer.Index
	for _, i := range res.Indexes {
		idx = i
	}
	var all, holding []string
	var other multihash.Multihash // a block in a shard the root is not in
	for shard, blocks := range idx.View.Shards().Iterator() {
		all = append(all, shard.B58String())
		if blocks.Has(f.root.Hash()) {
			holding = append(holding, shard.B58String())
		} else if other == nil {
			for b := range blocks.Iterator() {
				other = b
				break
			}
		}
	}
	if len(all) < 2 || other == nil {
		t.Fatalf("fixture has %d shards; the test needs several", len(all))
	}
	// The index blob's own location is in the answer too.
	want := append(holding, idx.Digest.B58String())
	slices.Sort(want)
	if got := locationsOf(res); !slices.Equal(got, want) {
		t.Fatalf("root: locations of %v, want %v (of shards %v)", got, want, all)
	}
	res = query(t, f.svc, indexer.Query{Hashes: []multihash.Multihash{other}})
	for _, l := range locationsOf(res) {
		if slices.Contains(holding, l) && !slices.Contains(want, l) {
			t.Fatalf("block in another shard answered with the root's shard %s", l)
		}
	}
	if n := len(locationsOf(res)); n != 2 {
		t.Fatalf("block in one shard: %d locations, want its shard's and the index's", n)
	}
}

// spaces= filters location claims, those of index blobs too: an index
// stored for one space is not read for a query about another.
func TestSpacesFilterIndexLocations(t *testing.T) {
	svc, id, _, blobs := newService(t, nil, nil)
	space, _ := signer.Generate()
	other, _ := signer.Generate()
	src := filepath.Join(t.TempDir(), "file.bin")
	data := bytes.Repeat([]byte("spaces "), 200_000)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	im := importer.New(blobs, svc, id, id, importer.Config{ShardSize: 512 << 10, TempDir: t.TempDir(), Space: space.DID()})
	root, err := im.ImportPath(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	h := []multihash.Multihash{root.Hash()}
	for _, tc := range []struct {
		name    string
		spaces  []did.DID
		indexes int
		locs    bool
	}{
		{"no filter", nil, 1, true},
		{"its space", []did.DID{space.DID()}, 1, true},
		{"its space among others", []did.DID{other.DID(), space.DID()}, 1, true},
		// The index blob has no location in that space: not read, and no
		// location claim of that space's either; the index claim stays.
		{"another space", []did.DID{other.DID()}, 0, false},
	} {
		res := query(t, svc, indexer.Query{Hashes: h, Spaces: tc.spaces})
		if len(res.Indexes) != tc.indexes || (len(locationsOf(res)) > 0) != tc.locs {
			t.Errorf("%s: %d indexes, locations %v", tc.name, len(res.Indexes), locationsOf(res))
		}
		kinds := map[string]int{}
		for _, c := range res.Claims {
			kinds[c.Kind]++
		}
		if kinds["assert/index"] != 1 {
			t.Errorf("%s: %d index claims, want 1", tc.name, kinds["assert/index"])
		}
	}
}

// One bad index (its blob gone, or not an index at all) no longer fails
// the query: it is skipped, the good index still answers. With only bad
// indexes the query fails (not an empty answer that reads as 404).
func TestBadIndexSkipped(t *testing.T) {
	f := newFixture(t)
	// An index blob that is not an index.
	junk, junkLoc := putBlob(t, f, []byte("this is not a sharded DAG index"))
	storeRaw(t, f, junkLoc, junk)
	storeRaw(t, f, indexClaim(t, f, f.root, junk), f.root.Hash())
	// An index whose blob has no location at all.
	gone, _ := multihash.Sum([]byte("gone"), multihash.SHA2_256, -1)
	storeRaw(t, f, indexClaim(t, f, f.root, gone), f.root.Hash())
	// An index whose blob's location serves other bytes.
	lieURL, _ := url.Parse(f.blobs.URL(blobstore.Key(junk)))
	lie, _ := multihash.Sum([]byte("lie"), multihash.SHA2_256, -1)
	lieLoc, _ := assert.Location.Delegate(f.id, f.id, f.id.DID().String(),
		assert.LocationCaveats{Content: ctypes.FromHash(lie), Location: []url.URL{*lieURL}}, delegation.WithNoExpiration())
	storeRaw(t, f, lieLoc, lie)
	storeRaw(t, f, indexClaim(t, f, f.root, lie), f.root.Hash())

	res := query(t, f.svc, indexer.Query{Hashes: []multihash.Multihash{f.root.Hash()}})
	if len(res.Indexes) != 1 {
		t.Fatalf("%d indexes, want the good one", len(res.Indexes))
	}
	for _, idx := range res.Indexes {
		if !idx.View.Content().(cidlink.Link).Cid.Equals(f.root) {
			t.Fatalf("index for %s", idx.View.Content())
		}
	}

	// Only bad indexes: an error, not an empty answer.
	lone, _ := multihash.Sum([]byte("lone root"), multihash.SHA2_256, -1)
	loneRoot := cid.NewCidV1(cid.Raw, lone)
	storeRaw(t, f, indexClaim(t, f, loneRoot, junk), lone)
	if res, err := f.svc.Query(context.Background(), indexer.Query{Hashes: []multihash.Multihash{lone}}); err == nil {
		t.Fatalf("only a bad index: %d claims, %d indexes, no error", len(res.Claims), len(res.Indexes))
	}
}

// type=standard_compressed answers a block of an indexed DAG with one
// location claim for the block itself, signed by the service: its range
// in the shard's URL holds exactly the block. Storacha's reader decodes it.
func TestStandardCompressed(t *testing.T) {
	f := newFixture(t)
	srv := serveAPI(t, f.svc)
	res := queryRoot(t, f)
	var block multihash.Multihash
	for _, idx := range res.Indexes {
		for _, blocks := range idx.View.Shards().Iterator() {
			for b := range blocks.Iterator() {
				if !bytes.Equal(b, f.root.Hash()) {
					block = b
				}
			}
		}
	}
	resp, body := get(t, srv.URL+"/claims?type=standard_compressed&multihash="+mb(block))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d (%s)", resp.StatusCode, body)
	}
	if qr, err := queryresult.Extract(bytes.NewReader(body)); err != nil || len(qr.Claims()) != 1 || len(qr.Indexes()) != 0 {
		t.Fatalf("storacha reads %v (err %v)", qr, err)
	}
	got, err := indexer.DecodeResult(bytes.NewReader(body))
	if err != nil || len(got.Claims) != 1 || len(got.Indexes) != 0 {
		t.Fatalf("decode: %v, %v", got, err)
	}
	for _, c := range got.Claims {
		if c.Kind != "assert/location" || !bytes.Equal(c.Content, block) || c.Delegation.Issuer().DID() != f.id.DID() {
			t.Fatalf("claim %s about %s by %s", c.Kind, c.Content.B58String(), c.Delegation.Issuer().DID())
		}
		if c.Range == nil || c.Range.Length == nil {
			t.Fatal("no range")
		}
		rc, err := blobstore.NewRouter(nil, f.blobs).ReadURL(context.Background(), c.URLs[0].String(), int64(c.Range.Offset), int64(*c.Range.Length))
		if err != nil {
			t.Fatal(err)
		}
		data := readAllT(t, rc)
		rc.Close()
		dec, _ := multihash.Decode(block)
		if sum := sha256.Sum256(data); !bytes.Equal(sum[:], dec.Digest) {
			t.Fatalf("range %d+%d does not hold the block", c.Range.Offset, *c.Range.Length)
		}
	}
	// Something no index holds: the standard (here empty) answer.
	unknown, _ := multihash.Sum([]byte("x"), multihash.SHA2_256, -1)
	if res := query(t, f.svc, indexer.Query{Hashes: []multihash.Multihash{unknown}, Type: indexer.QueryStandardCompressed}); !res.Empty() {
		t.Fatalf("unknown: %d claims", len(res.Claims))
	}
}

// countingURLReader counts reads per URL over an inner reader set later.
type countingURLReader struct {
	inner blobstore.URLReader
	mu    sync.Mutex
	reads map[string]int
}

func (c *countingURLReader) ReadURL(ctx context.Context, u string, off, length int64) (io.ReadCloser, error) {
	c.mu.Lock()
	if c.reads == nil {
		c.reads = map[string]int{}
	}
	c.reads[u]++
	c.mu.Unlock()
	return c.inner.ReadURL(ctx, u, off, length)
}

// A blob that hashes right but is not an index is read once, not once per
// query: it will never decode.
func TestUndecodableIndexReadOnce(t *testing.T) {
	cr := &countingURLReader{}
	svc, id, store, blobs := newService(t, nil, cr)
	cr.inner = blobstore.NewRouter(nil, blobs)
	f := &fixture{svc: svc, id: id, store: store, blobs: blobs}
	src := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(src, bytes.Repeat([]byte("read once "), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := importer.New(blobs, svc, id, id, importer.Config{TempDir: t.TempDir()}).ImportPath(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	junk, junkLoc := putBlob(t, f, bytes.Repeat([]byte("not an index "), 10_000))
	storeRaw(t, f, junkLoc, junk)
	storeRaw(t, f, indexClaim(t, f, root, junk), root.Hash())
	junkURL := blobs.URL(blobstore.Key(junk))
	for i := range 3 {
		res := query(t, svc, indexer.Query{Hashes: []multihash.Multihash{root.Hash()}})
		if len(res.Indexes) != 1 {
			t.Fatalf("query %d: %d indexes, want the good one", i, len(res.Indexes))
		}
		svc.WaitCaches()
	}
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if n := cr.reads[junkURL]; n != 1 {
		t.Fatalf("junk index blob read %d times over 3 queries, want 1", n)
	}
}
