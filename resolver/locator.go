package resolver

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync/atomic"

	"github.com/multiformats/go-multihash"

	"github.com/cargate/cargate/internal/importer"
)

// Locator finds where blocks are stored. The indexer satisfies it in
// process; an HTTP client of an indexer's GET /claims satisfies it across
// processes.
type Locator interface {
	// Locate returns the positions of block and of every other block of
	// the DAG index(es) that hold it, so one answer serves a whole DAG.
	// It returns an error wrapping ErrNotFound when block is unknown.
	Locate(ctx context.Context, block multihash.Multihash) (*Located, error)
}

// Located is a Locator's answer. Nothing in it is trusted: positions come
// from claims anyone with a delegation (or IPNI, or a legacy table) wrote.
type Located struct {
	// Blocks maps a block multihash (as a string of its bytes) to the
	// places its bytes may be, most trusted first. The resolver keeps at
	// most MaxCandidates of them and tries them in this order.
	Blocks map[string][]Position
	// Shards maps a shard multihash (string of its bytes) to where the
	// shard can be read. A shard absent here is not readable yet: its
	// blocks are located again on use.
	Shards map[string]*Shard
}

// Position is a block's place: its shard and byte range within it.
type Position struct {
	Shard  string
	Offset uint64
	Length uint64
}

// MaxBlockSize is the longest block the resolver reads, the largest the
// importer accepts: a position with a longer length is not a place the
// block can be, and is dropped before it sizes anything.
const MaxBlockSize = importer.MaxBlockSize

// MaxCandidates bounds the positions kept for one block.
const MaxCandidates = 8

// maxOffset bounds a position's offset and a source's base offset (1 PiB,
// far past any real shard): with it, every sum of offsets and lengths the
// read planning makes stays far from int64 overflow.
const maxOffset = 1 << 50

// Usable reports whether p can be read at all: its length is at most
// MaxBlockSize and its offset below maxOffset. An unusable position is a
// lie (or a bug) in whatever claim named it.
func (p Position) Usable() bool {
	return p.Length <= MaxBlockSize && p.Offset < maxOffset
}

// Shard is a blob holding blocks, and the places it can be read.
type Shard struct {
	Digest multihash.Multihash
	// Sources are tried in order (most trusted first).
	Sources []Source
	// Space is the DID of the space the shard is stored for, if known.
	Space string

	order []span // blocks by offset, built by prepare
	// next is the shard offset where the last read ended: a read starting
	// there is sequential and worth reading ahead.
	next atomic.Int64
}

// Source is one place a shard can be read: a URL, and where the shard
// starts within it (non-zero when a location claim names a byte range).
type Source struct {
	URL    string
	Offset int64
}

// span is a block's range in its shard (also used for coalesced reads).
type span struct {
	key      string
	off, len int64
}

// cand is one candidate place of a block: a span in a readable shard.
type cand struct {
	shard *Shard
	idx   int // in shard.order
}

func (c cand) span() span { return c.shard.order[c.idx] }

// id names the candidate's position for the failed-position memory.
func (c cand) id() string {
	sp := c.span()
	return fmt.Sprintf("%x/%d/%d/%x", []byte(c.shard.Digest), sp.off, sp.len, sp.key)
}

// prepare bounds and orders l for read planning: it drops unusable
// positions and sources, keeps at most MaxCandidates positions per block
// (in the Locator's order, without duplicates), sorts each shard's blocks
// by offset, and returns each block's candidates, most trusted first.
// Blocks whose every position is unusable or in an unreadable shard are
// left out. dropped counts the unusable positions.
func (l *Located) prepare() (cands map[string][]cand, dropped int) {
	for _, s := range l.Shards {
		s.Sources = usableSources(s.Sources)
	}
	kept := make(map[string][]pos, len(l.Blocks))
	for key, ps := range l.Blocks {
		var mine []pos
		for _, p := range ps {
			if !p.Usable() {
				dropped++
				continue
			}
			if len(mine) == MaxCandidates {
				break
			}
			s, ok := l.Shards[p.Shard]
			if !ok {
				continue
			}
			q := pos{p.Shard, int64(p.Offset), int64(p.Length)}
			if slices.Contains(mine, q) {
				continue
			}
			mine = append(mine, q)
			s.order = append(s.order, span{key: key, off: q.off, len: q.len})
		}
		if len(mine) > 0 {
			kept[key] = mine
		}
	}
	// Where each span landed once its shard's order is sorted.
	index := make(map[string]map[span]int, len(l.Shards))
	for sk, s := range l.Shards {
		sort.Slice(s.order, func(i, j int) bool {
			a, b := s.order[i], s.order[j]
			if a.off != b.off {
				return a.off < b.off
			}
			if a.len != b.len {
				return a.len < b.len
			}
			return a.key < b.key
		})
		m := make(map[span]int, len(s.order))
		for i, sp := range s.order {
			m[sp] = i
		}
		index[sk] = m
	}
	cands = make(map[string][]cand, len(kept))
	for key, ps := range kept {
		cs := make([]cand, 0, len(ps))
		for _, p := range ps {
			cs = append(cs, cand{shard: l.Shards[p.shard], idx: index[p.shard][span{key: key, off: p.off, len: p.len}]})
		}
		cands[key] = cs
	}
	return cands, dropped
}

type pos struct {
	shard    string
	off, len int64
}

// usableSources drops sources whose base offset is negative or absurd.
func usableSources(srcs []Source) []Source {
	out := srcs[:0:0]
	for _, s := range srcs {
		if s.Offset >= 0 && s.Offset < maxOffset {
			out = append(out, s)
		}
	}
	return out
}
