package resolver

import (
	"bytes"
	"context"
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/multiformats/go-multihash"
)

// fuzzEntry is one hostile position, decoded from 18 bytes of fuzz input:
// block index, shard selector, offset, length.
const fuzzEntry = 18

// FuzzPositions feeds the resolver Locator answers whose positions come
// from the fuzzer, ahead of (or, when the first input byte is odd,
// instead of) each block's real place. Whatever the positions, the
// resolver must not panic, must not ask a store for more than one
// coalesced read's worth of bytes, must not allocate without bound, and
// must return either a block's exact bytes or an error.
func FuzzPositions(f *testing.F) {
	seed := func(noGood byte, entries ...[4]uint64) []byte {
		b := []byte{noGood}
		for _, e := range entries {
			b = append(b, byte(e[0]), byte(e[1]))
			b = binary.BigEndian.AppendUint64(b, e[2])
			b = binary.BigEndian.AppendUint64(b, e[3])
		}
		return b
	}
	f.Add(seed(0))
	f.Add(seed(0, [4]uint64{2, 1, 40, 1 << 63}))
	f.Add(seed(0, [4]uint64{3, 0, 0, 64 << 30}, [4]uint64{3, 1, 1 << 62, 100}))
	f.Add(seed(1, [4]uint64{1, 0, 41, 100}, [4]uint64{1, 2, 0, 100}))
	f.Add(seed(0, [4]uint64{0, 0, 1<<64 - 1, 1<<64 - 1}, [4]uint64{4, 0, 200, MaxBlockSize}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 || len(data) > 1+fuzzEntry*32 {
			return
		}
		l := fuzzLayout(t)
		garbage, gbytes := garbageShard(t, l)
		missing := append(multihash.Multihash(nil), garbage.Digest...)
		missing[len(missing)-1] ^= 1
		shardKeys := []string{string(l.digest), string(garbage.Digest), string(missing)}
		extra := map[int][]Position{}
		for b := data[1:]; len(b) >= fuzzEntry; b = b[fuzzEntry:] {
			i := int(b[0]) % len(l.blocks)
			extra[i] = append(extra[i], Position{
				Shard:  shardKeys[int(b[1])%len(shardKeys)],
				Offset: binary.BigEndian.Uint64(b[2:]),
				Length: binary.BigEndian.Uint64(b[10:]),
			})
		}
		rd := newMemReader(map[string][]byte{"mem://good": l.blob(), "mem://garbage": gbytes})
		loc := &placesLocator{l: l, noGood: data[0]%2 == 1,
			shards: map[string]*Shard{string(garbage.Digest): garbage},
			extra:  func(i int) []Position { return extra[i] }}
		r, err := New(loc, rd, Config{BlockCacheBytes: 1 << 20, LocationCacheBytes: 1 << 20, ReadAheadBytes: 1 << 20, ReadTimeout: 5 * time.Second}, nil, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i, b := range l.blocks {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			got, err := r.Block(ctx, b.c)
			cancel()
			if err == nil && !bytes.Equal(got, l.block(i)) {
				t.Fatalf("block %d: served %d unverified bytes", i, len(got))
			}
			if err != nil && data[0]%2 == 0 && len(extra[i]) < MaxCandidates {
				t.Fatalf("block %d: its real place was among its candidates, yet: %v", i, err)
			}
		}
		runtime.ReadMemStats(&after)
		r.Close() // waits for read-ahead still running
		if n := rd.longest(); n > max(DefaultMaxSpan, MaxBlockSize) {
			t.Fatalf("asked the store for %d bytes in one read", n)
		}
		// Every read allocates at most its blocks (each ≤ MaxBlockSize);
		// a read is retried a bounded number of times per candidate.
		bound := uint64(len(l.blocks)*(MaxCandidates+1)*(maxFailsPerSource+1)) * MaxBlockSize
		if grew := after.TotalAlloc - before.TotalAlloc; grew > bound {
			t.Fatalf("allocated %d bytes (bound %d)", grew, bound)
		}
	})
}

// fuzzLayout is a small shard with blocks of awkward sizes, one large
// enough to be hashed on its own goroutine.
func fuzzLayout(t *testing.T) *layout {
	return newLayout(t, []int{1, 100, 3000, parallelVerifyBytes + 5, 500, 2}, 40)
}
