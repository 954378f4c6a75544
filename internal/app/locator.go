package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-ucanto/did"

	"github.com/cargate/cargate/indexer"
	"github.com/cargate/cargate/resolver"
)

// querier is what the resolver's locator needs of an indexer: the
// in-process service or an HTTP client of another indexer's GET /claims.
type querier interface {
	Query(ctx context.Context, q indexer.Query) (*indexer.Result, error)
}

// locator satisfies resolver.Locator over an indexer. It orders what it
// finds by trust: claims issued by own (the node's DID, when known) first,
// then those of other writers, then those found in remote sources (IPNI,
// legacy tables). Trust only orders; the resolver verifies every block and
// falls back past a place that fails, whoever claimed it.
type locator struct {
	q   querier
	own did.DID
}

var _ resolver.Locator = locator{}

func (l locator) Locate(ctx context.Context, block multihash.Multihash) (*resolver.Located, error) {
	res, err := l.q.Query(ctx, indexer.Query{Hashes: []multihash.Multihash{block}, Type: indexer.QueryStandard})
	switch {
	case errors.Is(err, indexer.ErrNotFound):
		return nil, fmt.Errorf("%w: %w", resolver.ErrNotFound, err)
	case errors.Is(err, indexer.ErrUnavailable):
		return nil, fmt.Errorf("%w: %w", resolver.ErrUnavailable, err)
	case err != nil:
		return nil, err
	}
	if res.Empty() {
		// An indexer answers an unknown multihash with an empty result.
		return nil, fmt.Errorf("%w: no claim about %s", resolver.ErrNotFound, block.B58String())
	}
	return l.located(res), nil
}

// Trust ranks, lowest first.
const (
	rankOwn = iota
	rankWriter
	rankRemote
)

func (l locator) rank(c *indexer.Claim) int {
	switch {
	case l.own != did.Undef && c.Delegation.Issuer().DID() == l.own:
		return rankOwn
	case c.Remote:
		return rankRemote
	}
	return rankWriter
}

// located turns a query result into block positions (each block's places
// in trust order, at most resolver.MaxCandidates) and shard sources (in
// trust order too).
func (l locator) located(res *indexer.Result) *resolver.Located {
	out := &resolver.Located{Blocks: map[string][]resolver.Position{}, Shards: map[string]*resolver.Shard{}}
	var locs []*indexer.Claim
	// An index ranks as the most trusted claim that names it.
	indexRank := map[string]int{}
	for _, c := range res.Claims {
		switch c.Kind {
		case "assert/location":
			locs = append(locs, c)
		case "assert/index":
			k := string(c.Index.Hash())
			if r, ok := indexRank[k]; !ok || l.rank(c) < r {
				indexRank[k] = l.rank(c)
			}
		}
	}
	slices.SortFunc(locs, func(a, b *indexer.Claim) int {
		return cmp.Or(cmp.Compare(l.rank(a), l.rank(b)), cmp.Compare(a.CID().KeyString(), b.CID().KeyString()))
	})
	for _, c := range locs {
		key := string(c.Content)
		s, ok := out.Shards[key]
		if !ok {
			s = &resolver.Shard{Digest: c.Content}
			out.Shards[key] = s
		}
		if s.Space == "" {
			s.Space = spaceString(c)
		}
		var base int64
		if c.Range != nil {
			if c.Range.Offset > 1<<62 {
				continue // no usable place; the resolver would drop it too
			}
			base = int64(c.Range.Offset)
		}
		for _, u := range c.URLs {
			s.Sources = append(s.Sources, resolver.Source{URL: u.String(), Offset: base})
		}
	}
	type ranked struct {
		rank  int
		ctxID string
		idx   indexer.Index
	}
	var idxs []ranked
	for ctxID, idx := range res.Indexes {
		r, ok := indexRank[string(idx.Digest)]
		if !ok {
			r = rankRemote
		}
		idxs = append(idxs, ranked{r, ctxID, idx})
	}
	slices.SortFunc(idxs, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.ctxID, b.ctxID))
	})
	for _, ri := range idxs {
		for shard, slices := range ri.idx.View.Shards().Iterator() {
			for block, pos := range slices.Iterator() {
				k := string(block)
				if len(out.Blocks[k]) < resolver.MaxCandidates {
					out.Blocks[k] = append(out.Blocks[k], resolver.Position{Shard: string(shard), Offset: pos.Offset, Length: pos.Length})
				}
			}
		}
	}
	return out
}

// spaceString is the space a location claim bills: only one whose
// authority was shown (the node's own claim, or a claim carrying the
// space's delegation to its issuer); any other is billed to no space.
func spaceString(c *indexer.Claim) string {
	if c.Space.Defined() && c.SpaceTrusted {
		return c.Space.String()
	}
	return ""
}
