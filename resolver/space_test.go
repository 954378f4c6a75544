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
	var noted atomic.Int64
	r.OnSpace = func(_ context.Context, space string) {
		if space == "did:key:z6MkSpace" {
			noted.Add(1)
		}
	}
	ctx := context.Background()
	const rounds = 3
	for round := 0; round < rounds; round++ {
		for i := range l.blocks {
			if _, err := r.Block(ctx, l.blocks[i].c); err != nil {
				t.Fatal(err)
			}
		}
		r.blocks.Wait()
	}
	if got, want := noted.Load(), int64(rounds*len(l.blocks)); got != want {
		t.Fatalf("space noted %d times for %d block serves", got, want)
	}
}
