package app

import (
	"net/url"
	"testing"

	"github.com/ipfs/go-cid"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/multiformats/go-multicodec"
	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-libstoracha/blobindex"
	"github.com/storacha/go-libstoracha/capabilities/assert"
	ctypes "github.com/storacha/go-libstoracha/capabilities/types"
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/principal"
	"github.com/storacha/go-ucanto/principal/ed25519/signer"

	"github.com/cargate/cargate/indexer"
	"github.com/cargate/cargate/resolver"
)

func mh(t *testing.T, s string) multihash.Multihash {
	t.Helper()
	h, err := multihash.Sum([]byte(s), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func decoded(t *testing.T, d delegation.Delegation, err error) *indexer.Claim {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	c, err := indexer.Decode(d)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The locator keeps every index's place for a block (not the last seen),
// ordered by trust: the node's own claims, then other writers', then
// those from remote sources, whatever order the result's maps give.
// Shard sources follow the same order, and the most trusted location
// claim names the shard's space.
func TestLocatorOrdersPlacesByTrust(t *testing.T) {
	own, _ := signer.Generate()
	writer, _ := signer.Generate()
	remote, _ := signer.Generate()
	root := cid.NewCidV1(cid.Raw, mh(t, "root"))
	block := mh(t, "block")
	shard := mh(t, "shard")
	res := &indexer.Result{Claims: map[cid.Cid]*indexer.Claim{}, Indexes: map[string]indexer.Index{}}
	var ownSpace string
	// One index per issuer, each placing block at its own offset.
	issuers := []struct {
		who    principal.Signer
		remote bool
		offset uint64
		url    string
	}{
		{remote, true, 300, "https://remote.example/shard"},
		{writer, false, 200, "https://writer.example/shard"},
		{own, false, 100, "https://own.example/shard"},
	}
	for _, is := range issuers {
		view := blobindex.NewShardedDagIndexView(cidlink.Link{Cid: root}, -1)
		view.SetSlice(shard, block, blobindex.Position{Offset: is.offset, Length: 10})
		digest := mh(t, is.url) // stands in for the index blob's digest
		d, err := assert.Index.Delegate(is.who, own, own.DID().String(), assert.IndexCaveats{
			Content: cidlink.Link{Cid: root},
			Index:   cidlink.Link{Cid: cid.NewCidV1(uint64(multicodec.Car), digest)},
		}, delegation.WithNoExpiration())
		ic := decoded(t, d, err)
		ic.Remote = is.remote
		res.Claims[ic.CID()] = ic
		res.Indexes[is.url] = indexer.Index{Digest: digest, View: view}
		u, _ := url.Parse(is.url)
		space, _ := signer.Generate()
		if is.who.DID() == own.DID() {
			ownSpace = space.DID().String()
		}
		d, err = assert.Location.Delegate(is.who, own, own.DID().String(), assert.LocationCaveats{
			Content: ctypes.FromHash(shard), Location: []url.URL{*u}, Space: space.DID(),
		}, delegation.WithNoExpiration())
		lc := decoded(t, d, err)
		lc.Remote = is.remote
		// The indexer trusts the space of its own claims only (the
		// others carry no delegation from their space).
		lc.SpaceTrusted = is.who.DID() == own.DID()
		res.Claims[lc.CID()] = lc
	}
	for _, tc := range []struct {
		name    string
		own     principal.Signer
		offsets []uint64
		hosts   []string
	}{
		{"own key known", own, []uint64{100, 200, 300}, []string{"own.example", "writer.example", "remote.example"}},
		// A gateway apart from its indexer does not know the indexer's
		// key: local writers still come before remote sources.
		{"own key unknown", nil, nil, nil},
	} {
		l := locator{}
		if tc.own != nil {
			l.own = tc.own.DID()
		}
		got := l.located(res)
		places := got.Blocks[string(block)]
		if len(places) != 3 {
			t.Fatalf("%s: %d places, want all 3", tc.name, len(places))
		}
		if places[2].Offset != 300 {
			t.Errorf("%s: remote place not last: %+v", tc.name, places)
		}
		if tc.offsets != nil {
			for i, p := range places {
				if p.Offset != tc.offsets[i] {
					t.Errorf("%s: place %d at %d, want %d", tc.name, i, p.Offset, tc.offsets[i])
				}
			}
		}
		// Whatever the order, the shard is billed to the one space whose
		// authority was shown (the own claim's), never a writer's.
		s := got.Shards[string(shard)]
		if s.Space != ownSpace {
			t.Errorf("%s: shard billed to %q, want the only trusted space %s", tc.name, s.Space, ownSpace)
		}
		if tc.offsets != nil {
			for i, src := range s.Sources {
				if u, _ := url.Parse(src.URL); u.Host != tc.hosts[i] {
					t.Errorf("%s: source %d is %s, want %s", tc.name, i, src.URL, tc.hosts[i])
				}
			}
		}
	}
	// Past MaxCandidates places, the least trusted are left out.
	many := &indexer.Result{Claims: res.Claims, Indexes: map[string]indexer.Index{}}
	for i := range resolver.MaxCandidates + 3 {
		view := blobindex.NewShardedDagIndexView(cidlink.Link{Cid: root}, -1)
		view.SetSlice(shard, block, blobindex.Position{Offset: uint64(1000 + i), Length: 10})
		many.Indexes[string(rune('a'+i))] = indexer.Index{Digest: mh(t, string(rune('a'+i))), View: view}
	}
	if n := len((locator{own: own.DID()}).located(many).Blocks[string(block)]); n != resolver.MaxCandidates {
		t.Fatalf("%d places kept, want %d", n, resolver.MaxCandidates)
	}
}
