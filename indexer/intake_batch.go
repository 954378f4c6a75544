package indexer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-libstoracha/blobindex"
	"github.com/storacha/go-libstoracha/capabilities/assert"
	"github.com/storacha/go-ucanto/core/delegation"

	"github.com/cargate/cargate/internal/importer"
)

// batch is the claims of one intake message. Every claim is checked,
// index blobs included, before any is stored: one bad claim stores
// nothing (all-or-nothing).
type batch struct {
	s     *Service
	items []*staged
	// grants are the serve delegations of the message's access/delegate
	// invocations, kept (after the claims) only if everything passed.
	grants []ServeGrant
	// fetched counts index blob bytes read for this batch, bounded by
	// MaxIndexBytes in total.
	fetched int64
}

// staged is one claim of a batch: the delegation to store, what it
// says, and (once checked) the multihashes it is stored under.
type staged struct {
	d    delegation.Delegation
	c    *Claim
	keys []multihash.Multihash
}

func (s *Service) newBatch() *batch { return &batch{s: s} }

// add takes a claim whose signature and validity window are checked.
func (b *batch) add(d delegation.Delegation) (*staged, error) {
	c, err := Decode(d)
	if err != nil {
		return nil, err
	}
	st := &staged{d: d, c: c}
	b.items = append(b.items, st)
	return st, nil
}

// check does the checks that read: each index claim's index blob is
// fetched (from the batch's or the store's location claims), verified
// and its positions bounded. It returns the first failure and the claim
// it belongs to.
func (b *batch) check(ctx context.Context) (*staged, error) {
	ctx, cancel := context.WithTimeout(ctx, b.s.cfg.FetchTimeout)
	defer cancel()
	for _, st := range b.items {
		keys, err := b.keysOf(ctx, st.c)
		if err != nil {
			return st, err
		}
		st.keys = keys
	}
	return nil, nil
}

// keysOf returns the multihashes a claim is found under.
func (b *batch) keysOf(ctx context.Context, c *Claim) ([]multihash.Multihash, error) {
	keys := []multihash.Multihash{c.Content}
	switch c.Kind {
	case "assert/equals":
		keys = append(keys, c.Equals.Hash())
	case "assert/index":
		v, err := b.index(ctx, c.Index.Hash())
		if err != nil {
			return nil, fmt.Errorf("%w: index %s: %w", ErrBadClaim, c.Index, err)
		}
		if err := b.checkPositions(ctx, v); err != nil {
			return nil, fmt.Errorf("%w: index %s: %w", ErrBadClaim, c.Index, err)
		}
		for _, slices := range v.Shards().Iterator() {
			for block := range slices.Iterator() {
				keys = append(keys, block)
			}
		}
	}
	return keys, nil
}

// locations returns the location claims for digest: the batch's own,
// then those in the store. Remote sources are not asked: intake trusts
// only what it was given and what it holds.
func (b *batch) locations(ctx context.Context, digest multihash.Multihash) ([]*Claim, error) {
	var out []*Claim
	for _, st := range b.items {
		if st.c.Kind == "assert/location" && bytes.Equal(st.c.Content, digest) {
			out = append(out, st.c)
		}
	}
	own, err := b.s.ownClaims(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("%w: claim store: %w", ErrUnavailable, err)
	}
	for _, c := range own {
		if c.Kind == "assert/location" {
			out = append(out, c)
		}
	}
	return out, nil
}

// errIndexUnreadable is what a client learns when an index blob cannot
// be read: never the remote host's answer or the dial error, which would
// make intake a port scanner. Details go to the log.
var errIndexUnreadable = errors.New("the index blob could not be read from its locations within the limits (allowed hosts, size, time)")

// index fetches, verifies and decodes an index blob.
func (b *batch) index(ctx context.Context, digest multihash.Multihash) (blobindex.ShardedDagIndexView, error) {
	dec, err := multihash.Decode(digest)
	if err != nil || dec.Code != multihash.SHA2_256 {
		return nil, errors.New("index blob multihash must be sha2-256")
	}
	locs, err := b.locations(ctx, digest)
	if err != nil {
		return nil, err
	}
	if len(locs) == 0 {
		return nil, errors.New("no location claim for the index blob (publish it first or in the same message)")
	}
	limit := b.s.cfg.MaxIndexBytes - b.fetched
	for _, l := range locs {
		for _, u := range l.URLs {
			data, err := b.s.readBounded(ctx, u.String(), l.Range, limit)
			if err == nil {
				if sum := sha256.Sum256(data); !bytes.Equal(sum[:], dec.Digest) {
					err = errors.New("bytes do not match the multihash")
				}
			}
			if err != nil {
				b.s.log.Info("intake: index blob not read", "index", digest.B58String(), "url", u.String(), "err", err)
				continue
			}
			b.fetched += int64(len(data))
			v, err := DecodeIndex(data)
			if err != nil {
				return nil, err
			}
			return v, nil
		}
	}
	return nil, errIndexUnreadable
}

// readBounded reads a whole blob at url (within rng, if given), failing
// past limit bytes.
func (s *Service) readBounded(ctx context.Context, url string, rng *assert.Range, limit int64) ([]byte, error) {
	off, length := int64(0), int64(-1)
	if rng != nil {
		if rng.Offset > uint64(1<<62) {
			return nil, errors.New("range offset out of bounds")
		}
		off = int64(rng.Offset)
		if rng.Length != nil {
			if *rng.Length > uint64(limit) {
				return nil, fmt.Errorf("range of %d bytes exceeds the %d-byte limit", *rng.Length, limit)
			}
			length = int64(*rng.Length)
		}
	}
	if limit <= 0 {
		return nil, errors.New("the message's index blobs exceed the size limit")
	}
	rc, err := s.blobs.ReadURL(ctx, url, off, length)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("blob larger than the %d-byte limit", limit)
	}
	return data, nil
}

// DecodeIndex decodes an index blob (a sharded DAG index CAR) and checks
// the bounds of every position that need no outside knowledge: each
// length at most importer.MaxBlockSize and offset+length not overflowing.
// Any failure refuses the whole index.
func DecodeIndex(data []byte) (blobindex.ShardedDagIndexView, error) {
	v, err := blobindex.Extract(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("not a sharded DAG index: %w", err)
	}
	for shard, slices := range v.Shards().Iterator() {
		for block, pos := range slices.Iterator() {
			if err := checkPosition(pos, -1); err != nil {
				return nil, fmt.Errorf("block %s in shard %s: %w", block.B58String(), shard.B58String(), err)
			}
		}
	}
	return v, nil
}

// checkPosition bounds one position; size < 0 means the shard's size is
// not known.
func checkPosition(pos blobindex.Position, size int64) error {
	if pos.Length > importer.MaxBlockSize {
		return fmt.Errorf("length %d exceeds the largest block (%d bytes)", pos.Length, importer.MaxBlockSize)
	}
	end := pos.Offset + pos.Length
	if end < pos.Offset || pos.Offset > 1<<62 {
		return fmt.Errorf("offset %d is out of bounds", pos.Offset)
	}
	if size >= 0 && end > uint64(size) {
		return fmt.Errorf("range %d+%d lies past the end of the shard (%d bytes)", pos.Offset, pos.Length, size)
	}
	return nil
}

// checkPositions holds every position of v inside its shard where a
// location claim (in the batch or the store) states the shard's size.
func (b *batch) checkPositions(ctx context.Context, v blobindex.ShardedDagIndexView) error {
	for shard, slices := range v.Shards().Iterator() {
		size, err := b.shardSize(ctx, shard)
		if err != nil {
			return err
		}
		if size < 0 {
			continue
		}
		for block, pos := range slices.Iterator() {
			if err := checkPosition(pos, size); err != nil {
				return fmt.Errorf("block %s in shard %s: %w", block.B58String(), shard.B58String(), err)
			}
		}
	}
	return nil
}

// shardSize is the smallest size a location claim states for shard (a
// range with a length), or -1 when none does.
func (b *batch) shardSize(ctx context.Context, shard multihash.Multihash) (int64, error) {
	locs, err := b.locations(ctx, shard)
	if err != nil {
		return 0, err
	}
	size := int64(-1)
	for _, l := range locs {
		if l.Range == nil || l.Range.Length == nil || *l.Range.Length > 1<<62 {
			continue
		}
		if n := int64(*l.Range.Length); size < 0 || n < size {
			size = n
		}
	}
	return size, nil
}

// commit stores every claim of a checked batch.
func (b *batch) commit(ctx context.Context, grant func(context.Context, []ServeGrant) error) error {
	for _, st := range b.items {
		if err := b.s.store1(ctx, st.d, st.c, st.keys); err != nil {
			return err
		}
	}
	if len(b.grants) > 0 {
		return grant(ctx, b.grants)
	}
	return nil
}

// size is the number of claims and grants staged.
func (b *batch) size() int { return len(b.items) + len(b.grants) }
