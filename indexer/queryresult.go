package indexer

import (
	"bytes"
	"fmt"
	"io"
	"iter"
	"sort"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multicodec"
	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-libstoracha/blobindex"
	"github.com/storacha/go-ucanto/core/car"
	"github.com/storacha/go-ucanto/core/dag/blockstore"
	"github.com/storacha/go-ucanto/core/delegation"
	ucipld "github.com/storacha/go-ucanto/core/ipld"
	"github.com/storacha/go-ucanto/core/ipld/block"

	"github.com/cargate/cargate/internal/verify"
)

// QueryResultTag is the keyed-union tag of the query result root block.
const QueryResultTag = "index/query/result@0.1"

// QueryResultContentType is the media type of an encoded query result.
const QueryResultContentType = "application/vnd.ipld.car"

// maxQueryResultBytes bounds a query result read from a remote indexer.
const maxQueryResultBytes = 512 << 20

// EncodeResult writes res as a query-result CAR: a dag-cbor root
// {QueryResultTag: {claims: [links], indexes: {contextID: link}}}, then
// every block of every claim, then each index as one CAR-codec block. The
// indexes map is left out when empty, as Storacha's service does. Claims
// and indexes are written in sorted order, so equal results encode to
// equal bytes.
func EncodeResult(res *Result) (io.Reader, error) {
	claimIDs := make([]cid.Cid, 0, len(res.Claims))
	for id := range res.Claims {
		claimIDs = append(claimIDs, id)
	}
	sort.Slice(claimIDs, func(i, j int) bool { return claimIDs[i].KeyString() < claimIDs[j].KeyString() })
	ctxIDs := make([]string, 0, len(res.Indexes))
	for k := range res.Indexes {
		ctxIDs = append(ctxIDs, k)
	}
	sort.Strings(ctxIDs)

	var blocks []ucipld.Block
	indexLinks := make(map[string]cid.Cid, len(ctxIDs))
	for _, k := range ctxIDs {
		b, err := indexBlock(res.Indexes[k])
		if err != nil {
			return nil, err
		}
		indexLinks[k] = linkCID(b.Link())
		blocks = append(blocks, b)
	}
	root, err := encodeRoot(claimIDs, ctxIDs, indexLinks)
	if err != nil {
		return nil, err
	}
	all := func(yield func(ucipld.Block, error) bool) {
		if !yield(root, nil) {
			return
		}
		seen := map[string]bool{}
		for _, id := range claimIDs {
			for b, err := range res.Claims[id].Delegation.Export() {
				if err != nil {
					yield(nil, err)
					return
				}
				if k := b.Link().Binary(); !seen[k] {
					seen[k] = true
					if !yield(b, nil) {
						return
					}
				}
			}
		}
		for _, b := range blocks {
			if !yield(b, nil) {
				return
			}
		}
	}
	return car.Encode([]ucipld.Link{root.Link()}, all), nil
}

// indexBlock archives an index and addresses the bytes as a CAR-codec
// sha2-256 CID, as Storacha's service does.
func indexBlock(idx Index) (ucipld.Block, error) {
	data := idx.Bytes
	if data == nil {
		ar, err := idx.View.Archive()
		if err != nil {
			return nil, fmt.Errorf("archive index: %w", err)
		}
		if data, err = io.ReadAll(ar); err != nil {
			return nil, fmt.Errorf("archive index: %w", err)
		}
	}
	c, err := cid.Prefix{Version: 1, Codec: uint64(multicodec.Car), MhType: multihash.SHA2_256, MhLength: -1}.Sum(data)
	if err != nil {
		return nil, err
	}
	return block.NewBlock(cidlink.Link{Cid: c}, data), nil
}

func encodeRoot(claims []cid.Cid, ctxIDs []string, links map[string]cid.Cid) (ucipld.Block, error) {
	node, err := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, QueryResultTag, qp.Map(2, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "claims", qp.List(int64(len(claims)), func(la datamodel.ListAssembler) {
				for _, c := range claims {
					qp.ListEntry(la, qp.Link(cidlink.Link{Cid: c}))
				}
			}))
			if len(ctxIDs) > 0 {
				qp.MapEntry(ma, "indexes", qp.Map(int64(len(ctxIDs)), func(ma datamodel.MapAssembler) {
					for _, k := range ctxIDs {
						qp.MapEntry(ma, k, qp.Link(cidlink.Link{Cid: links[k]}))
					}
				}))
			}
		}))
	})
	if err != nil {
		return nil, fmt.Errorf("build query result: %w", err)
	}
	var buf bytes.Buffer
	if err := dagcbor.Encode(node, &buf); err != nil {
		return nil, fmt.Errorf("encode query result: %w", err)
	}
	c, err := cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: multihash.SHA2_256, MhLength: -1}.Sum(buf.Bytes())
	if err != nil {
		return nil, err
	}
	return block.NewBlock(cidlink.Link{Cid: c}, buf.Bytes()), nil
}

// DecodeResult reads a query-result CAR. Every block is checked against
// its CID; claims are decoded with Decode and indexes with
// blobindex.Extract. Anything malformed fails with ErrBadInput.
func DecodeResult(r io.Reader) (*Result, error) {
	roots, blocks, err := car.Decode(io.LimitReader(r, maxQueryResultBytes))
	if err != nil {
		return nil, fmt.Errorf("%w: query result: %w", ErrBadInput, err)
	}
	if len(roots) != 1 {
		return nil, fmt.Errorf("%w: query result has %d roots, want 1", ErrBadInput, len(roots))
	}
	bs, err := blockstore.NewBlockReader(blockstore.WithBlocksIterator(verified(blocks)))
	if err != nil {
		return nil, fmt.Errorf("%w: query result: %w", ErrBadInput, err)
	}
	root, ok, err := bs.Get(roots[0])
	if err != nil || !ok {
		return nil, fmt.Errorf("%w: query result root block missing", ErrBadInput)
	}
	claimLinks, indexLinks, err := decodeRoot(root.Bytes())
	if err != nil {
		return nil, err
	}
	res := &Result{Claims: map[cid.Cid]*Claim{}, Indexes: map[string]Index{}}
	for _, l := range claimLinks {
		d, err := delegation.NewDelegationView(cidlink.Link{Cid: l}, bs)
		if err != nil {
			return nil, fmt.Errorf("%w: claim %s: %w", ErrBadInput, l, err)
		}
		c, err := Decode(d)
		if err != nil {
			return nil, err
		}
		res.Claims[l] = c
	}
	for k, l := range indexLinks {
		b, ok, err := bs.Get(cidlink.Link{Cid: l})
		if err != nil || !ok {
			return nil, fmt.Errorf("%w: index block %s missing", ErrBadInput, l)
		}
		v, err := blobindex.Extract(bytes.NewReader(b.Bytes()))
		if err != nil {
			return nil, fmt.Errorf("%w: index %s: %w", ErrBadInput, l, err)
		}
		res.Indexes[k] = Index{Digest: l.Hash(), View: v, Bytes: b.Bytes()}
	}
	return res, nil
}

// verified passes blocks on, failing at the first whose bytes do not hash
// to its CID.
func verified(blocks iter.Seq2[ucipld.Block, error]) iter.Seq2[ucipld.Block, error] {
	return func(yield func(ucipld.Block, error) bool) {
		for b, err := range blocks {
			if err == nil {
				err = checkBlock(b)
			}
			if !yield(b, err) || err != nil {
				return
			}
		}
	}
}

func checkBlock(b ucipld.Block) error {
	want := linkCID(b.Link())
	if err := verify.Block(want.Hash(), b.Bytes()); err != nil {
		return fmt.Errorf("block %s: %w", want, err)
	}
	return nil
}

// decodeRoot reads the claim links and the indexes map of a root block.
func decodeRoot(data []byte) ([]cid.Cid, map[string]cid.Cid, error) {
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagcbor.Decode(nb, bytes.NewReader(data)); err != nil {
		return nil, nil, fmt.Errorf("%w: query result root: %w", ErrBadInput, err)
	}
	body, err := nb.Build().LookupByString(QueryResultTag)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: query result root is not %s", ErrBadInput, QueryResultTag)
	}
	bad := func(what string) error { return fmt.Errorf("%w: query result: malformed %s", ErrBadInput, what) }
	var claims []cid.Cid
	if n, err := body.LookupByString("claims"); err == nil && !n.IsNull() {
		for it := n.ListIterator(); it != nil && !it.Done(); {
			_, v, err := it.Next()
			if err != nil {
				return nil, nil, bad("claims")
			}
			c, err := nodeCID(v)
			if err != nil {
				return nil, nil, bad("claims")
			}
			claims = append(claims, c)
		}
	}
	indexes := map[string]cid.Cid{}
	if n, err := body.LookupByString("indexes"); err == nil && !n.IsNull() {
		for it := n.MapIterator(); it != nil && !it.Done(); {
			k, v, err := it.Next()
			if err != nil {
				return nil, nil, bad("indexes")
			}
			ks, err1 := k.AsString()
			c, err2 := nodeCID(v)
			if err1 != nil || err2 != nil {
				return nil, nil, bad("indexes")
			}
			indexes[ks] = c
		}
	}
	return claims, indexes, nil
}

func nodeCID(n ipld.Node) (cid.Cid, error) {
	l, err := n.AsLink()
	if err != nil {
		return cid.Undef, err
	}
	c := linkCID(l)
	if !c.Defined() {
		return cid.Undef, fmt.Errorf("not a CID link")
	}
	return c, nil
}
