package resolver

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/multiformats/go-multihash"
)

// spaceLocator marks the shard as stored for a space.
type spaceLocator struct{ fakeLocator }

func (s *spaceLocator) Locate(ctx context.Context, h multihash.Multihash) (*Located, error) {
	out, err := s.fakeLocator.Locate(ctx, h)
	if err == nil {
		for _, sh := range out.Shards {
			sh.Space = "did:key:z6MkSpace"
		}
	}
	return out, err
}

// TestSpaceNotedOnEveryServe: egress attribution must not depend on
// whether a block came from storage, read-ahead or the block cache.
func TestSpaceNotedOnEveryServe(t *testing.T) {
	l := newLayout(t, uniform(8, 4096), 40)
	loc := &spaceLocator{fakeLocator{l: l, urls: []string{"synth://shard"}}}
	r := newTestResolver(t, loc, synthReader{l}, Config{})
	var noted countingRecorder
	ctx := WithSpaceRecorder(context.Background(), &noted)
	const rounds = 3
	for round := 0; round < rounds; round++ {
		for i := range l.blocks {
			if _, err := r.Block(ctx, l.blocks[i].c); err != nil {
				t.Fatal(err)
			}
		}
		r.blocks.Wait()
	}
	if got, want := noted.n.Load(), int64(rounds*len(l.blocks)); got != want {
		t.Fatalf("space noted %d times for %d block serves", got, want)
	}
}

// countingRecorder counts the blocks recorded for the test's space.
type countingRecorder struct{ n atomic.Int64 }

func (c *countingRecorder) RecordSpace(space string) {
	if space == "did:key:z6MkSpace" {
		c.n.Add(1)
	}
}

// TestNoRecorderNoLookup: without a recorder in the context (and no
// Allowed check), a block held in memory is served without locating it
// again.
func TestNoRecorderNoLookup(t *testing.T) {
	l := newLayout(t, uniform(2, 4096), 40)
	loc := &fakeLocator{l: l, urls: []string{"synth://shard"}}
	r := newTestResolver(t, loc, synthReader{l}, Config{})
	ctx := context.Background()
	if _, err := r.Block(ctx, l.blocks[0].c); err != nil {
		t.Fatal(err)
	}
	r.blocks.Wait()
	r.locs.Del(string(l.blocks[0].c.Hash()))
	before := loc.calls.Load()
	if _, err := r.Block(ctx, l.blocks[0].c); err != nil {
		t.Fatal(err)
	}
	if got := loc.calls.Load() - before; got != 0 {
		t.Fatalf("a cached block with no recorder located %d times", got)
	}
	var noted countingRecorder
	if _, err := r.Block(WithSpaceRecorder(ctx, &noted), l.blocks[0].c); err != nil {
		t.Fatal(err)
	}
	if loc.calls.Load()-before != 1 {
		t.Fatalf("a cached block with a recorder: located %d times, want 1 (its location was dropped)", loc.calls.Load()-before)
	}
}
