package indexer_test

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-libstoracha/blobindex"
	"github.com/storacha/go-libstoracha/bytemap"
	"github.com/storacha/go-ucanto/core/car"
	"github.com/storacha/go-ucanto/core/delegation"
	ucipld "github.com/storacha/go-ucanto/core/ipld"
	"github.com/storacha/indexing-service/pkg/service/queryresult"
	"github.com/storacha/indexing-service/pkg/types"

	"github.com/cargate/cargate/indexer"
)

func queryRoot(t *testing.T, f *fixture) *indexer.Result {
	t.Helper()
	res, err := f.svc.Query(context.Background(), indexer.Query{Hashes: []multihash.Multihash{f.root.Hash()}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Indexes) != 1 || len(res.Claims) < 3 {
		t.Fatalf("query of the root found %d claims and %d indexes", len(res.Claims), len(res.Indexes))
	}
	return res
}

func linkStrings(ls []ucipld.Link) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.String())
	}
	sort.Strings(out)
	return out
}

func claimStrings(res *indexer.Result) []string {
	var out []string
	for c := range res.Claims {
		out = append(out, c.String())
	}
	sort.Strings(out)
	return out
}

// Ours decodes with indexing-service v1.13.4's own queryresult.Extract.
func TestQueryResultDecodesWithStoracha(t *testing.T) {
	f := newFixture(t)
	res := queryRoot(t, f)
	r, err := indexer.EncodeResult(res)
	if err != nil {
		t.Fatal(err)
	}
	qr, err := queryresult.Extract(r)
	if err != nil {
		t.Fatalf("storacha Extract: %v", err)
	}
	if got, want := strings.Join(linkStrings(qr.Claims()), ","), strings.Join(claimStrings(res), ","); got != want {
		t.Fatalf("claims: got %s, want %s", got, want)
	}
	if len(qr.Indexes()) != 1 {
		t.Fatalf("storacha sees %d indexes, want 1", len(qr.Indexes()))
	}
	blocks := map[string][]byte{}
	for b, err := range qr.Blocks() {
		if err != nil {
			t.Fatal(err)
		}
		blocks[b.Link().String()] = b.Bytes()
	}
	idx, err := blobindex.Extract(bytes.NewReader(blocks[qr.Indexes()[0].String()]))
	if err != nil {
		t.Fatalf("index block: %v", err)
	}
	if !idx.Content().(cidlink.Link).Cid.Equals(f.root) {
		t.Fatalf("index is for %s, want %s", idx.Content(), f.root)
	}
}

// Theirs (queryresult.Build) decodes with ours, and the root block is the
// same bytes (same CID) as ours for the same claims and indexes.
func TestStorachaQueryResultDecodesWithOurs(t *testing.T) {
	f := newFixture(t)
	res := queryRoot(t, f)
	claims := map[cid.Cid]delegation.Delegation{}
	for c, cl := range res.Claims {
		claims[c] = cl.Delegation
	}
	indexes := bytemap.NewByteMap[types.EncodedContextID, blobindex.ShardedDagIndexView](-1)
	for k, idx := range res.Indexes {
		indexes.Set(types.EncodedContextID(k), idx.View)
	}
	qr, err := queryresult.Build(claims, indexes)
	if err != nil {
		t.Fatal(err)
	}
	got, err := indexer.DecodeResult(car.Encode([]ucipld.Link{qr.Root().Link()}, qr.Blocks()))
	if err != nil {
		t.Fatalf("DecodeResult of storacha's result: %v", err)
	}
	if g, w := strings.Join(claimStrings(got), ","), strings.Join(claimStrings(res), ","); g != w {
		t.Fatalf("claims: got %s, want %s", g, w)
	}
	for k, idx := range res.Indexes {
		gi, ok := got.Indexes[k]
		if !ok {
			t.Fatalf("index under context id %x missing", k)
		}
		if gi.View.Shards().Size() != idx.View.Shards().Size() {
			t.Fatalf("index has %d shards, want %d", gi.View.Shards().Size(), idx.View.Shards().Size())
		}
	}
	// Storacha lists claims in map order: compare root bytes on one claim.
	one := &indexer.Result{Claims: map[cid.Cid]*indexer.Claim{}, Indexes: res.Indexes}
	for c, cl := range res.Claims {
		one.Claims[c] = cl
		break
	}
	theirsOne, err := queryresult.Build(map[cid.Cid]delegation.Delegation{firstKey(one): one.Claims[firstKey(one)].Delegation}, indexes)
	if err != nil {
		t.Fatal(err)
	}
	oursOne, err := indexer.EncodeResult(one)
	if err != nil {
		t.Fatal(err)
	}
	roots, _, err := car.Decode(oursOne)
	if err != nil {
		t.Fatal(err)
	}
	if roots[0].String() != theirsOne.Root().Link().String() {
		t.Fatalf("root block differs: ours %s, storacha %s", roots[0], theirsOne.Root().Link())
	}
}

func firstKey(r *indexer.Result) cid.Cid {
	for c := range r.Claims {
		return c
	}
	return cid.Undef
}

// Tampered or malformed results are rejected with ErrBadInput.
func TestDecodeResultRejectsBadInput(t *testing.T) {
	f := newFixture(t)
	r, err := indexer.EncodeResult(queryRoot(t, f))
	if err != nil {
		t.Fatal(err)
	}
	good := readAllT(t, r)
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)-10] ^= 0xff // inside the last (index) block
	for name, in := range map[string][]byte{
		"flipped byte in a block": flipped,
		"truncated":               good[:len(good)/2],
		"not a CAR":               []byte("hello"),
		"empty":                   nil,
	} {
		if _, err := indexer.DecodeResult(bytes.NewReader(in)); !errors.Is(err, indexer.ErrBadInput) {
			t.Errorf("%s: got %v, want ErrBadInput", name, err)
		}
	}
	if _, err := indexer.DecodeResult(bytes.NewReader(good)); err != nil {
		t.Fatalf("good result: %v", err)
	}
}
