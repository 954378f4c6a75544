package indexer

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-libstoracha/capabilities/assert"
	ctypes "github.com/storacha/go-libstoracha/capabilities/types"
	"github.com/storacha/go-ucanto/core/delegation"

	"github.com/cargate/cargate/internal/importer"
)

// compress turns a standard answer about h into a standard_compressed one,
// as Storacha's indexing service does: when an index places h in a shard
// that has a location claim in res, the answer is one location claim for
// h itself, signed by this service, naming that shard's URLs and h's byte
// range within them, and no index. Otherwise res stands as it is.
//
// Unlike Storacha's, it never signs an unusable range (a length past the
// largest block, an offset that overflows), and picks the shard's location
// deterministically: the service's own claim first, then by claim CID.
// A location claim without an expiry gives a compressed claim without one.
func (s *Service) compress(h multihash.Multihash, res *Result) (*Result, error) {
	ctxIDs := make([]string, 0, len(res.Indexes))
	for k := range res.Indexes {
		ctxIDs = append(ctxIDs, k)
	}
	slices.Sort(ctxIDs)
	for _, k := range ctxIDs {
		for shard, blocks := range res.Indexes[k].View.Shards().Iterator() {
			if !blocks.Has(h) {
				continue
			}
			pos := blocks.Get(h)
			loc := s.shardLocation(res, shard)
			if loc == nil || pos.Length > importer.MaxBlockSize {
				continue
			}
			off := pos.Offset
			if loc.Range != nil {
				if loc.Range.Offset > math.MaxUint64-off {
					continue
				}
				off += loc.Range.Offset
			}
			return s.compressedClaim(h, loc, off, pos.Length)
		}
	}
	return res, nil
}

// shardLocation returns the location claim in res for shard that compress
// names: the service's own first, then the lowest claim CID.
func (s *Service) shardLocation(res *Result, shard multihash.Multihash) *Claim {
	var locs []*Claim
	for _, c := range res.Claims {
		if c.Kind == "assert/location" && string(c.Content) == string(shard) {
			locs = append(locs, c)
		}
	}
	own := func(c *Claim) int {
		if c.Delegation.Issuer().DID() == s.id.DID() {
			return 0
		}
		return 1
	}
	slices.SortFunc(locs, func(a, b *Claim) int {
		return cmp.Or(cmp.Compare(own(a), own(b)), cmp.Compare(a.CID().KeyString(), b.CID().KeyString()))
	})
	if len(locs) == 0 {
		return nil
	}
	return locs[0]
}

func (s *Service) compressedClaim(h multihash.Multihash, loc *Claim, off, length uint64) (*Result, error) {
	opts := []delegation.Option{delegation.WithNoExpiration()}
	if exp := loc.Delegation.Expiration(); exp != nil {
		opts = []delegation.Option{delegation.WithExpiration(*exp)}
	}
	d, err := assert.Location.Delegate(s.id, s.id, s.id.DID().String(), assert.LocationCaveats{
		Content:  ctypes.FromHash(h),
		Location: loc.URLs,
		Range:    &assert.Range{Offset: off, Length: &length},
		Space:    loc.Space,
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("sign compressed location claim: %w", err)
	}
	c, err := Decode(d)
	if err != nil {
		return nil, err
	}
	return &Result{Claims: map[cid.Cid]*Claim{c.CID(): c}, Indexes: map[string]Index{}}, nil
}
