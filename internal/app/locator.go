package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/multiformats/go-multihash"

	"github.com/cargate/cargate/indexer"
	"github.com/cargate/cargate/resolver"
)

// querier is what the resolver's locator needs of an indexer: the
// in-process service or an HTTP client of another indexer's GET /claims.
type querier interface {
	Query(ctx context.Context, q indexer.Query) (*indexer.Result, error)
}

// locator satisfies resolver.Locator over an indexer.
type locator struct{ q querier }

var _ resolver.Locator = locator{}

func (l locator) Locate(ctx context.Context, block multihash.Multihash) (*resolver.Located, error) {
	res, err := l.q.Query(ctx, indexer.Query{Hashes: []multihash.Multihash{block}, Type: indexer.QueryStandard})
	if errors.Is(err, indexer.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", resolver.ErrNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	return located(res), nil
}

// located turns a query result into block positions and shard sources.
func located(res *indexer.Result) *resolver.Located {
	out := &resolver.Located{Blocks: map[string]resolver.Position{}, Shards: map[string]*resolver.Shard{}}
	for _, c := range res.Claims {
		if c.Kind != "assert/location" {
			continue
		}
		key := string(c.Content)
		s, ok := out.Shards[key]
		if !ok {
			s = &resolver.Shard{Digest: c.Content, Space: spaceString(c)}
			out.Shards[key] = s
		}
		var base int64
		if c.Range != nil {
			base = int64(c.Range.Offset)
		}
		for _, u := range c.URLs {
			s.Sources = append(s.Sources, resolver.Source{URL: u.String(), Offset: base})
		}
	}
	for _, idx := range res.Indexes {
		for shard, slices := range idx.View.Shards().Iterator() {
			for block, pos := range slices.Iterator() {
				out.Blocks[string(block)] = resolver.Position{Shard: string(shard), Offset: pos.Offset, Length: pos.Length}
			}
		}
	}
	return out
}

func spaceString(c *indexer.Claim) string {
	if c.Space.Defined() {
		return c.Space.String()
	}
	return ""
}
