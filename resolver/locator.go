package resolver

import (
	"context"
	"sort"
	"sync/atomic"

	"github.com/multiformats/go-multihash"
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

// Located is a Locator's answer.
type Located struct {
	// Blocks maps a block multihash (as a string of its bytes) to where
	// its bytes are.
	Blocks map[string]Position
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

// Shard is a blob holding blocks, and the places it can be read.
type Shard struct {
	Digest multihash.Multihash
	// Sources are tried in order.
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

// prepare sorts a shard's blocks by offset for read planning.
func (l *Located) prepare() {
	for key, p := range l.Blocks {
		if s, ok := l.Shards[p.Shard]; ok {
			s.order = append(s.order, span{key: key, off: int64(p.Offset), len: int64(p.Length)})
		}
	}
	for _, s := range l.Shards {
		sort.Slice(s.order, func(i, j int) bool { return s.order[i].off < s.order[j].off })
	}
}
