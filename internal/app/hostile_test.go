package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ipfs/go-cid"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/multiformats/go-multicodec"
	"github.com/multiformats/go-multihash"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/storacha/go-libstoracha/blobindex"
	"github.com/storacha/go-libstoracha/capabilities/assert"
	ctypes "github.com/storacha/go-libstoracha/capabilities/types"
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/principal"
	"github.com/storacha/go-ucanto/principal/ed25519/signer"

	"github.com/cargate/cargate/gateway"
	"github.com/cargate/cargate/indexer"
	"github.com/cargate/cargate/internal/blobstore"
	"github.com/cargate/cargate/internal/claimstore"
	"github.com/cargate/cargate/internal/importer"
	"github.com/cargate/cargate/resolver"
)

// hostileCap is the documented bound on what an authorized but hostile
// index may cost a block read (docs/http-api.md, "How the gateway uses
// what claims say"): each place tried allocates at most MaxBlockSize, and
// a block has at most MaxCandidates places; the caches are bounded as
// ever. The test allows that for every block of the file.
const hostileCap = resolver.MaxCandidates * resolver.MaxBlockSize

// hostileNode is the read path of a node over one claim store and blob
// directory: indexer, in-process locator (knowing the node's DID),
// resolver and gateway, built afresh as a restart would.
type hostileNode struct {
	id    principal.Signer
	store claimstore.Store
	blobs *blobstore.Dir
}

func (h *hostileNode) start(t *testing.T) (*httptest.Server, *prometheus.Registry) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	reader := blobstore.NewRouter(nil, h.blobs)
	svc, err := indexer.New(h.id, h.store, nil, reader, indexer.Config{}, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	res, err := resolver.New(locator{q: svc, own: h.id.DID()}, reader, resolver.Config{}, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(res.Close)
	gw, err := gateway.New(gateway.Config{}, resolver.Blockstore{R: res}, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv, reg
}

// storeRaw writes a claim signed by the node's own key straight into the
// claim store under keys: a claim stored before intake checked positions,
// or by a writer whose delegation was abused. No check runs.
func (h *hostileNode) storeRaw(t *testing.T, d delegation.Delegation, keys []multihash.Multihash) {
	t.Helper()
	data, err := io.ReadAll(d.Archive())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.store.Put(context.Background(), cid.MustParse(d.Link().String()), data, keys); err != nil {
		t.Fatal(err)
	}
}

// putBlob stores data and returns its digest and own-key location claim.
func (h *hostileNode) putBlob(t *testing.T, data []byte) (multihash.Multihash, delegation.Delegation) {
	t.Helper()
	digest, _ := multihash.Sum(data, multihash.SHA2_256, -1)
	key := blobstore.Key(digest)
	if err := h.blobs.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(h.blobs.URL(key))
	d, err := assert.Location.Delegate(h.id, h.id, h.id.DID().String(),
		assert.LocationCaveats{Content: ctypes.FromHash(digest), Location: []url.URL{*u}}, delegation.WithNoExpiration())
	if err != nil {
		t.Fatal(err)
	}
	return digest, d
}

// storeIndex stores view as an index blob with its location claim and an
// index claim for root, all signed by the node's own key, findable under
// root and every block the view lists.
func (h *hostileNode) storeIndex(t *testing.T, root cid.Cid, view blobindex.ShardedDagIndexView) {
	t.Helper()
	ar, err := view.Archive()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(ar)
	digest, loc := h.putBlob(t, data)
	h.storeRaw(t, loc, []multihash.Multihash{digest})
	idx, err := assert.Index.Delegate(h.id, h.id, h.id.DID().String(), assert.IndexCaveats{
		Content: cidlink.Link{Cid: root},
		Index:   cidlink.Link{Cid: cid.NewCidV1(uint64(multicodec.Car), digest)},
	}, delegation.WithNoExpiration())
	if err != nil {
		t.Fatal(err)
	}
	keys := []multihash.Multihash{root.Hash()}
	for _, blocks := range view.Shards().Iterator() {
		for b := range blocks.Iterator() {
			keys = append(keys, b)
		}
	}
	h.storeRaw(t, idx, keys)
}

// An authorized but hostile index (signed by the node's own key, so it
// ranks with the good one) lists a legitimate file's blocks in a garbage
// shard, at absurd lengths (2^63, 64 GiB), at offsets past the shard, and
// shifted inside the real shard. On every fresh start the file is still
// served byte-exact, by path, raw and as a CAR; the process neither
// crashes nor allocates past the documented cap.
func TestHostileIndexCannotBreakALegitimateFile(t *testing.T) {
	dir := t.TempDir()
	id, err := signer.Generate()
	if err != nil {
		t.Fatal(err)
	}
	store, err := claimstore.OpenPebble(filepath.Join(dir, "claims"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	blobs, err := blobstore.NewDir(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	h := &hostileNode{id: id, store: store, blobs: blobs}

	// The legitimate import: a 3.2 MiB file, several shards.
	content := make([]byte, 3<<20+200_000)
	rand.NewChaCha8([32]byte{1}).Read(content)
	src := filepath.Join(t.TempDir(), "file.bin")
	if err := os.WriteFile(src, content, 0o644); err != nil {
		t.Fatal(err)
	}
	svc, err := indexer.New(id, store, nil, blobstore.NewRouter(nil, blobs), indexer.Config{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	root, err := importer.New(blobs, svc, id, id, importer.Config{ShardSize: 1_500_000, TempDir: t.TempDir()}).ImportPath(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	good, err := svc.Query(context.Background(), indexer.Query{Hashes: []multihash.Multihash{root.Hash()}})
	svc.Close()
	if err != nil || len(good.Indexes) != 1 {
		t.Fatalf("legitimate index: %v", err)
	}
	type place struct {
		shard, block multihash.Multihash
		pos          blobindex.Position
	}
	var places []place
	for _, idx := range good.Indexes {
		for shard, blocks := range idx.View.Shards().Iterator() {
			for b, pos := range blocks.Iterator() {
				places = append(places, place{shard, b, pos})
			}
		}
	}

	// The hostile indexes, one attack each.
	garbage := make([]byte, 2<<20)
	rand.NewChaCha8([32]byte{2}).Read(garbage)
	g, gloc := h.putBlob(t, garbage)
	h.storeRaw(t, gloc, []multihash.Multihash{g})
	noLoc, _ := multihash.Sum([]byte("a shard nobody stores"), multihash.SHA2_256, -1)
	attacks := map[string]func(p place) (multihash.Multihash, blobindex.Position){
		"2^63 in garbage": func(p place) (multihash.Multihash, blobindex.Position) {
			return g, blobindex.Position{Offset: 40, Length: 1 << 63}
		},
		"64 GiB in the real shard": func(p place) (multihash.Multihash, blobindex.Position) {
			return p.shard, blobindex.Position{Offset: p.pos.Offset, Length: 64 << 30}
		},
		"sane lengths in garbage": func(p place) (multihash.Multihash, blobindex.Position) {
			return g, blobindex.Position{Offset: p.pos.Offset % 1_000_000, Length: p.pos.Length}
		},
		"offsets past the shard": func(p place) (multihash.Multihash, blobindex.Position) {
			return p.shard, blobindex.Position{Offset: 1 << 40, Length: p.pos.Length}
		},
		"shifted in the real shard": func(p place) (multihash.Multihash, blobindex.Position) {
			return p.shard, blobindex.Position{Offset: p.pos.Offset + 1, Length: p.pos.Length}
		},
		"overflowing offset": func(p place) (multihash.Multihash, blobindex.Position) {
			return p.shard, blobindex.Position{Offset: 1<<64 - 2, Length: p.pos.Length}
		},
		"a shard with no location": func(p place) (multihash.Multihash, blobindex.Position) {
			return noLoc, p.pos
		},
	}
	for _, attack := range attacks {
		view := blobindex.NewShardedDagIndexView(cidlink.Link{Cid: root}, -1)
		for _, p := range places {
			shard, pos := attack(p)
			view.SetSlice(shard, p.block, pos)
		}
		h.storeIndex(t, root, view)
	}

	var leaves []cid.Cid
	for _, p := range places {
		if !bytes.Equal(p.block, root.Hash()) {
			leaves = append(leaves, cid.NewCidV1(cid.Raw, p.block))
		}
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var failures float64
	for restart := range 3 {
		srv, reg := h.start(t)
		status, body := httpGet(t, srv.URL+"/ipfs/"+root.String())
		if status != 200 || !bytes.Equal(body, content) {
			t.Fatalf("restart %d: by path: status %d, %d bytes (want %d, byte-exact)", restart, status, len(body), len(content))
		}
		for _, leaf := range leaves {
			status, body := httpGet(t, srv.URL+"/ipfs/"+leaf.String()+"?format=raw")
			if sum, _ := leaf.Prefix().Sum(body); status != 200 || !sum.Equals(leaf) {
				t.Fatalf("restart %d: raw block %s: status %d", restart, leaf, status)
			}
		}
		if status, _ := httpGet(t, srv.URL+"/ipfs/"+root.String()+"?format=car"); status != 200 {
			t.Fatalf("restart %d: CAR: status %d", restart, status)
		}
		failures += gathered(t, reg, "cargate_resolver_position_failures_total")
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if failures == 0 {
		t.Fatal("no hostile place was ever tried or dropped: the test did not exercise the fallback")
	}
	budget := uint64(3 * (len(places) + 2) * hostileCap)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > budget {
		t.Fatalf("allocated %d MiB over three restarts, cap %d MiB", grew>>20, budget>>20)
	}
}

func httpGet(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: body: %v", u, err)
	}
	return resp.StatusCode, body
}

// gathered sums every series of a counter family in reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
