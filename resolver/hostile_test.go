package resolver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	carv2 "github.com/ipld/go-car/v2"
	"github.com/multiformats/go-multihash"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cargate/cargate/internal/blobstore"
)

// memReader serves blobs from memory by URL, with ranges, and records the
// largest length it was asked for and the reads per URL. panicOn, when
// set, makes ReadURL of that URL panic (or, for a URL in panicBody, the
// body's first Read), standing in for a buggy blob store.
type memReader struct {
	blobs     map[string][]byte
	panicOn   map[string]bool
	panicBody map[string]bool
	mu        sync.Mutex
	maxLen    int64
	reads     map[string]int
}

func newMemReader(blobs map[string][]byte) *memReader {
	return &memReader{blobs: blobs, reads: map[string]int{}, panicOn: map[string]bool{}, panicBody: map[string]bool{}}
}

// longest is the largest length asked for in one read so far.
func (m *memReader) longest() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.maxLen
}

// readCount is the number of reads of url so far.
func (m *memReader) readCount(url string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reads[url]
}

func (m *memReader) ReadURL(_ context.Context, url string, off, length int64) (io.ReadCloser, error) {
	m.mu.Lock()
	m.maxLen = max(m.maxLen, length)
	m.reads[url]++
	m.mu.Unlock()
	if m.panicOn[url] {
		panic("test hook: blob store bug in ReadURL")
	}
	b, ok := m.blobs[url]
	if !ok || off < 0 || off >= int64(len(b)) {
		return nil, blobstore.ErrNotFound
	}
	end := int64(len(b))
	if length >= 0 {
		if length > end-off {
			// As the HTTP reader does when a range reaches past the blob.
			return nil, fmt.Errorf("range %d+%d past the blob: %w", off, length, blobstore.ErrNotFound)
		}
		end = off + length
	}
	var r io.Reader = bytes.NewReader(b[off:end])
	if m.panicBody[url] {
		r = panicReader{}
	}
	return io.NopCloser(r), nil
}

func (m *memReader) readsOf(url string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reads[url]
}

type panicReader struct{}

func (panicReader) Read([]byte) (int, error) { panic("test hook: blob store bug in Read") }

// placesLocator answers every block of l: its candidate positions are
// extra(i) followed (unless noGood) by its real place in the good shard.
// Shards: the good one at "mem://good", plus any in shards.
type placesLocator struct {
	l      *layout
	extra  func(i int) []Position
	shards map[string]*Shard
	noGood bool
}

func (p *placesLocator) Locate(_ context.Context, h multihash.Multihash) (*Located, error) {
	out := &Located{Blocks: map[string][]Position{}, Shards: map[string]*Shard{}}
	out.Shards[string(p.l.digest)] = &Shard{Digest: p.l.digest, Sources: []Source{{URL: "mem://good"}}}
	for k, s := range p.shards {
		out.Shards[k] = &Shard{Digest: s.Digest, Sources: append([]Source(nil), s.Sources...)}
	}
	found := false
	for i, b := range p.l.blocks {
		var ps []Position
		if p.extra != nil {
			ps = append(ps, p.extra(i)...)
		}
		if !p.noGood {
			ps = append(ps, Position{Shard: string(p.l.digest), Offset: uint64(b.off), Length: uint64(b.len)})
		}
		out.Blocks[string(b.c.Hash())] = ps
		found = found || bytes.Equal(b.c.Hash(), h)
	}
	if !found {
		return nil, ErrNotFound
	}
	return out, nil
}

// garbageShard is a shard of random bytes the size of l's, at mem://garbage.
func garbageShard(t testing.TB, l *layout) (*Shard, []byte) {
	t.Helper()
	g := make([]byte, l.size)
	seededBlock(99, g)
	d, err := multihash.Sum(g, multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return &Shard{Digest: d, Sources: []Source{{URL: "mem://garbage"}}}, g
}

func newHostileResolver(t testing.TB, loc Locator, rd blobstore.URLReader) (*Resolver, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	r, err := New(loc, rd, Config{}, reg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r, reg
}

// The largest block the importer accepts is what the resolver bounds by:
// go-car's section limit, which ImportCAR keeps.
func TestMaxBlockSizeIsTheImportersLimit(t *testing.T) {
	if MaxBlockSize < carv2.DefaultMaxAllowedSectionSize {
		t.Fatalf("MaxBlockSize %d is below the CAR section size the importer accepts (%d)", MaxBlockSize, carv2.DefaultMaxAllowedSectionSize)
	}
}

// Positions from any source are bounded before they size anything: a
// block named at an absurd length or offset is an unusable place, skipped
// for the next one; with no other place it is a clean error.
func TestUnusablePositions(t *testing.T) {
	l := newLayout(t, []int{1000, 5000, 200}, 40)
	garbage, gbytes := garbageShard(t, l)
	g := string(garbage.Digest)
	good := string(l.digest)
	for _, tc := range []struct {
		name string
		pos  func(b tblock) Position
		// dropped: the place is refused before any read (bounds).
		dropped bool
	}{
		// length 2^63: int64(len) is negative, make([]byte, len) panics.
		{"length 2^63", func(b tblock) Position { return Position{Shard: g, Offset: 40, Length: 1 << 63} }, true},
		// 64 GiB: a positive length far past any block; OOM if allocated.
		{"length 64 GiB", func(b tblock) Position { return Position{Shard: good, Offset: uint64(b.off), Length: 64 << 30} }, true},
		{"length max uint64", func(b tblock) Position { return Position{Shard: g, Offset: 0, Length: math.MaxUint64} }, true},
		// offset+length overflows int64.
		{"offset overflow", func(b tblock) Position {
			return Position{Shard: good, Offset: math.MaxInt64 - 10, Length: uint64(b.len)}
		}, true},
		{"offset 2^63", func(b tblock) Position { return Position{Shard: good, Offset: 1 << 63, Length: uint64(b.len)} }, true},
		// Usable numbers, but past the end of the shard: the read fails.
		{"offset past the shard", func(b tblock) Position {
			return Position{Shard: good, Offset: uint64(l.size + 1000), Length: uint64(b.len)}
		}, false},
		// A usable length longer than the block, running past the shard.
		{"length past the shard", func(b tblock) Position {
			return Position{Shard: good, Offset: uint64(b.off), Length: MaxBlockSize}
		}, false},
		// Garbage bytes at a usable place: verification fails.
		{"garbage shard", func(b tblock) Position { return Position{Shard: g, Offset: uint64(b.off), Length: uint64(b.len)} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, withGood := range []bool{true, false} {
				rd := newMemReader(map[string][]byte{"mem://good": l.blob(), "mem://garbage": gbytes})
				loc := &placesLocator{l: l, noGood: !withGood, shards: map[string]*Shard{g: garbage},
					extra: func(i int) []Position { return []Position{tc.pos(l.blocks[i])} }}
				r, _ := newHostileResolver(t, loc, rd)
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				for i, b := range l.blocks {
					got, err := r.Block(context.Background(), b.c)
					switch {
					case withGood && err != nil:
						t.Fatalf("block %d with a good place too: %v", i, err)
					case withGood && !bytes.Equal(got, l.block(i)):
						t.Fatalf("block %d: wrong bytes", i)
					case !withGood && err == nil:
						t.Fatalf("block %d with only a bad place: served %d bytes", i, len(got))
					}
				}
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				// Each block costs at most a few reads of MaxBlockSize.
				if grew := after.TotalAlloc - before.TotalAlloc; grew > 8*MaxBlockSize {
					t.Fatalf("allocated %d bytes for three small blocks", grew)
				}
				if n := rd.longest(); n > DefaultMaxSpan && n > MaxBlockSize {
					t.Fatalf("asked the store for %d bytes in one read", n)
				}
				bounds := counter(r.m.positionFailures.WithLabelValues("bounds"))
				if tc.dropped && bounds == 0 {
					t.Fatalf("unusable position not counted as dropped")
				}
				if !tc.dropped && bounds != 0 {
					t.Fatalf("usable position dropped for its bounds")
				}
			}
		})
	}
}

// A block whose first place is garbage is served from its second place;
// the failed place is evicted: the next request (the block no longer in
// the block cache) does not read it first, nor does a fresh Locator
// answer.
func TestFallbackAndEviction(t *testing.T) {
	l := newLayout(t, []int{3000, 3000, 3000}, 40)
	garbage, gbytes := garbageShard(t, l)
	g := string(garbage.Digest)
	rd := newMemReader(map[string][]byte{"mem://good": l.blob(), "mem://garbage": gbytes})
	loc := &placesLocator{l: l, shards: map[string]*Shard{g: garbage}, extra: func(i int) []Position {
		return []Position{{Shard: g, Offset: uint64(l.blocks[i].off), Length: uint64(l.blocks[i].len)}}
	}}
	r, _ := newHostileResolver(t, loc, rd)
	b := l.blocks[1]
	for round := range 3 {
		got, err := r.Block(context.Background(), b.c)
		if err != nil || !bytes.Equal(got, l.block(1)) {
			t.Fatalf("round %d: %v", round, err)
		}
		if n := rd.readsOf("mem://garbage"); n != 1 {
			t.Fatalf("round %d: garbage read %d times, want once (the failed place stays evicted)", round, n)
		}
		r.blocks.Del(string(b.c.Hash()))
		r.blocks.Wait()
		if round == 1 {
			// Drop the cached place too: a fresh Locator answer puts the
			// failed place last.
			r.locs.Del(string(b.c.Hash()))
			r.locs.Wait()
		}
	}
	if got := counter(r.m.positionFailures.WithLabelValues("read")); got != 1 {
		t.Fatalf("position failures (read) = %v, want 1", got)
	}
	if got := counter(r.m.verifyFailures); got < 1 {
		t.Fatalf("verification failures = %v, want at least 1", got)
	}
}

// The hostile place lists the legitimate shard itself at wrong offsets (a
// block's range shifted): same shard, so the same source; the bad read
// must not make the good place of the block fail, nor that of the blocks
// a coalesced read covered after it.
func TestWrongOffsetInTheGoodShard(t *testing.T) {
	l := newLayout(t, uniform(20, 2000), 40)
	rd := newMemReader(map[string][]byte{"mem://good": l.blob()})
	loc := &placesLocator{l: l, extra: func(i int) []Position {
		b := l.blocks[i]
		return []Position{{Shard: string(l.digest), Offset: uint64(b.off + 7), Length: uint64(b.len)}}
	}}
	r, _ := newHostileResolver(t, loc, rd)
	if served, errs := readAll(t, r, l); len(errs) > 0 {
		t.Fatalf("served %d, errors %v", served, errs)
	}
}

// A panic in a blob store reader, in the resolver's own read goroutine,
// becomes an error for that place: the next place serves, and with none
// the caller gets an error. The process lives on.
func TestPanicInReadBecomesError(t *testing.T) {
	l := newLayout(t, []int{3000, 70 << 10, 100}, 40)
	for _, where := range []string{"ReadURL", "body Read"} {
		t.Run(where, func(t *testing.T) {
			other := &Shard{Digest: multihash.Multihash(append([]byte(nil), l.digest...)), Sources: []Source{{URL: "mem://panics"}}}
			other.Digest[len(other.Digest)-1] ^= 1
			o := string(other.Digest)
			blob := l.blob()
			for _, withGood := range []bool{true, false} {
				rd := newMemReader(map[string][]byte{"mem://good": blob, "mem://panics": blob})
				if where == "ReadURL" {
					rd.panicOn["mem://panics"] = true
				} else {
					rd.panicBody["mem://panics"] = true
				}
				loc := &placesLocator{l: l, noGood: !withGood, shards: map[string]*Shard{o: other}, extra: func(i int) []Position {
					return []Position{{Shard: o, Offset: uint64(l.blocks[i].off), Length: uint64(l.blocks[i].len)}}
				}}
				r, _ := newHostileResolver(t, loc, rd)
				for i, b := range l.blocks {
					got, err := r.Block(context.Background(), b.c)
					if withGood && (err != nil || !bytes.Equal(got, l.block(i))) {
						t.Fatalf("block %d: %v", i, err)
					}
					if !withGood && (err == nil || !errors.Is(err, errPanic)) {
						t.Fatalf("block %d: err %v, want a recovered panic", i, err)
					}
				}
				if counter(r.m.panics) == 0 {
					t.Fatal("no panic recovered")
				}
			}
		})
	}
}

// A panic in a pipelined read (started by no caller, on its own
// goroutine) is recovered too; the stream still gets every block right
// or an error, and the next attempt serves.
func TestPanicInPipelinedRead(t *testing.T) {
	l := newLayout(t, uniform(64, 32<<10), 40)
	inner := newMemReader(map[string][]byte{"mem://good": l.blob()})
	rd := &nthPanics{inner: inner, n: 2}
	r, _ := newHostileResolver(t, &placesLocator{l: l}, rd)
	r.cfg.MaxSpan = 256 << 10
	_, errs := readAll(t, r, l)
	if counter(r.m.panics) != 1 {
		t.Fatalf("recovered %v panics, want 1", counter(r.m.panics))
	}
	for _, err := range errs {
		if !errors.Is(err, errPanic) {
			t.Fatalf("error %v, want only the recovered panic", err)
		}
	}
	// Whatever failed is served on a second pass.
	if served, errs := readAll(t, r, l); len(errs) > 0 {
		t.Fatalf("second pass served %d, errors %v", served, errs)
	}
}

// nthPanics panics on its nth ReadURL (counting from 1), once.
type nthPanics struct {
	inner blobstore.URLReader
	n     int64
	calls atomic.Int64
}

func (p *nthPanics) ReadURL(ctx context.Context, url string, off, length int64) (io.ReadCloser, error) {
	if p.calls.Add(1) == p.n {
		panic("test hook: nth read panics")
	}
	return p.inner.ReadURL(ctx, url, off, length)
}

// When the candidates of a block disagree on its length, Size reads the
// block rather than believe the first claim.
func TestSizeWhenPlacesDisagree(t *testing.T) {
	l := newLayout(t, []int{3000}, 40)
	garbage, gbytes := garbageShard(t, l)
	g := string(garbage.Digest)
	rd := newMemReader(map[string][]byte{"mem://good": l.blob(), "mem://garbage": gbytes})
	loc := &placesLocator{l: l, shards: map[string]*Shard{g: garbage}, extra: func(i int) []Position {
		return []Position{{Shard: g, Offset: 0, Length: 1234}}
	}}
	r, _ := newHostileResolver(t, loc, rd)
	n, err := r.Size(context.Background(), l.blocks[0].c)
	if err != nil || n != 3000 {
		t.Fatalf("Size = %d, %v; want 3000", n, err)
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// counter reads a counter's value.
func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// TestLargeBlocksNotCached: blocks over MaxCachedBlock (file data read as
// streams) stay out of the block cache, so a repeat reads the store again;
// smaller ones are kept.
func TestLargeBlocksNotCached(t *testing.T) {
	l := newLayout(t, []int{1000, 512 << 10}, 2*DefaultMaxGap) // too far apart to share a read
	rd := newMemReader(map[string][]byte{"mem://good": l.blob()})
	r, err := New(&placesLocator{l: l}, rd, Config{}, nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	get := func(i int) {
		t.Helper()
		got, err := r.Block(context.Background(), l.blocks[i].c)
		if err != nil || !bytes.Equal(got, l.block(i)) {
			t.Fatalf("block %d: %v", i, err)
		}
	}
	get(0)
	get(1)
	small, large := string(l.blocks[0].c.Hash()), string(l.blocks[1].c.Hash())
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		r.blocks.Wait()
		if _, ok := r.blocks.Get(small); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the small block never reached the block cache")
		}
	}
	if _, ok := r.blocks.Get(large); ok {
		t.Fatal("a 512 KiB block was kept in the block cache")
	}
	before := rd.readCount("mem://good")
	get(0)
	if n := rd.readCount("mem://good"); n != before {
		t.Fatalf("the cached small block was read again (%d reads, was %d)", n, before)
	}
	get(1)
	if n := rd.readCount("mem://good"); n != before+1 {
		t.Fatalf("the large block: %d reads after a repeat, want %d", n, before+1)
	}
}

// placesInSpace is placesLocator with every shard in one space.
type placesInSpace struct {
	placesLocator
	space string
}

func (s *placesInSpace) Locate(ctx context.Context, h multihash.Multihash) (*Located, error) {
	out, err := s.placesLocator.Locate(ctx, h)
	if err == nil {
		for _, sh := range out.Shards {
			sh.Space = s.space
		}
	}
	return out, err
}

// TestAllowedSpacesOnly: with Allowed set, a block is served only while
// its space is allowed — also once its bytes are in the block cache.
func TestAllowedSpacesOnly(t *testing.T) {
	l := newLayout(t, []int{1000}, 40)
	rd := newMemReader(map[string][]byte{"mem://good": l.blob()})
	var allow atomic.Bool
	allow.Store(true)
	r, err := New(&placesInSpace{placesLocator{l: l}, "did:key:zSpaceA"}, rd, Config{
		Allowed: func(_ context.Context, space string) bool { return allow.Load() && space == "did:key:zSpaceA" },
	}, nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	c := l.blocks[0].c
	if b, err := r.Block(ctx, c); err != nil || !bytes.Equal(b, l.block(0)) {
		t.Fatalf("allowed space: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		r.blocks.Wait()
		if _, ok := r.blocks.Get(string(c.Hash())); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the block never reached the block cache")
		}
	}
	allow.Store(false)
	if _, err := r.Block(ctx, c); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cached block of a space no longer allowed: %v, want ErrNotFound", err)
	}
	if _, err := r.Size(ctx, c); !errors.Is(err, ErrNotFound) {
		t.Fatalf("size of a block of a space no longer allowed: %v, want ErrNotFound", err)
	}
	allow.Store(true)
	if _, err := r.Block(ctx, c); err != nil {
		t.Fatalf("allowed again: %v", err)
	}
}
