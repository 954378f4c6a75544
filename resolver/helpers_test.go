package resolver

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/internal/blobstore"
)

// tblock is one block laid out in a test shard.
type tblock struct {
	c        cid.Cid
	off, len int64
}

// layout is a shard laid out by hand: each block preceded by a gap of
// header bytes (standing in for a CAR section's varint and CID), like the
// carpark shards the importer writes.
type layout struct {
	digest multihash.Multihash
	blocks []tblock
	size   int64
	gap    int64
	// gen fills block i's bytes; the same function makes the keys and,
	// for synthetic blobs, the bytes served.
	gen func(i int, b []byte)
}

// seededBlock fills b from a PRNG seeded with i: distinct, reproducible.
func seededBlock(i int, b []byte) {
	rand.NewChaCha8([32]byte{byte(i), byte(i >> 8), byte(i >> 16), 7}).Read(b)
}

// newLayout lays out blocks of the given sizes with gap bytes before each.
func newLayout(t testing.TB, sizes []int, gap int64) *layout {
	t.Helper()
	l := &layout{gap: gap, gen: seededBlock}
	var off int64
	for i, n := range sizes {
		b := make([]byte, n)
		l.gen(i, b)
		mh, err := multihash.Sum(b, multihash.SHA2_256, -1)
		if err != nil {
			t.Fatal(err)
		}
		off += gap
		l.blocks = append(l.blocks, tblock{c: cid.NewCidV1(cid.Raw, mh), off: off, len: int64(n)})
		off += int64(n)
	}
	l.size = off
	l.digest, _ = multihash.Sum([]byte(strings.Repeat("shard", len(sizes))), multihash.SHA2_256, -1)
	return l
}

func uniform(n, size int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = size
	}
	return s
}

// blob materialises the whole shard in memory.
func (l *layout) blob() []byte {
	out := make([]byte, l.size)
	for i, b := range l.blocks {
		l.gen(i, out[b.off:b.off+b.len])
		for j := b.off - l.gap; j < b.off; j++ {
			out[j] = 0xa5
		}
	}
	return out
}

// block returns block i's bytes.
func (l *layout) block(i int) []byte {
	b := make([]byte, l.blocks[i].len)
	l.gen(i, b)
	return b
}

// fakeLocator answers every block of l with the given source URLs. It
// builds a fresh Located per call, as a real Locator does.
type fakeLocator struct {
	l     *layout
	urls  []string
	calls atomic.Int64
}

func (f *fakeLocator) Locate(_ context.Context, h multihash.Multihash) (*Located, error) {
	f.calls.Add(1)
	out := &Located{Blocks: map[string][]Position{}, Shards: map[string]*Shard{}}
	s := &Shard{Digest: f.l.digest}
	for _, u := range f.urls {
		s.Sources = append(s.Sources, Source{URL: u})
	}
	out.Shards[string(f.l.digest)] = s
	found := false
	for _, b := range f.l.blocks {
		out.Blocks[string(b.c.Hash())] = []Position{{Shard: string(f.l.digest), Offset: uint64(b.off), Length: uint64(b.len)}}
		found = found || bytes.Equal(b.c.Hash(), h)
	}
	if !found {
		return nil, ErrNotFound
	}
	return out, nil
}

func newTestResolver(t testing.TB, loc Locator, reader blobstore.URLReader, cfg Config) *Resolver {
	t.Helper()
	r, err := New(loc, reader, cfg, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// origin serves blobs by path with Range (http.ServeContent) and logs the
// Range header of every request it receives.
type origin struct {
	*httptest.Server
	mu     sync.Mutex
	ranges []string
}

func newOrigin(t testing.TB, blobs map[string][]byte) *origin {
	o := &origin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.ranges = append(o.ranges, r.Header.Get("Range"))
		o.mu.Unlock()
		b, ok := blobs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *origin) log() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.ranges...)
}

// fastHTTP is an HTTP reader with test-sized timeouts and backoff.
func fastHTTP() *blobstore.HTTP {
	return blobstore.NewHTTP(blobstore.HTTPConfig{
		StallTimeout:     150 * time.Millisecond,
		FirstByteTimeout: 2 * time.Second,
		BackoffBase:      time.Millisecond,
		BackoffMax:       5 * time.Millisecond,
	}, nil)
}

// countingReader counts ReadURL calls and bytes over an inner reader;
// gate, when set, holds every call until it is closed.
type countingReader struct {
	inner blobstore.URLReader
	gate  chan struct{}
	reads atomic.Int64
	bytes atomic.Int64
	// longest is the length of the longest read asked for.
	longest atomic.Int64
}

func (c *countingReader) ReadURL(ctx context.Context, url string, off, length int64) (io.ReadCloser, error) {
	c.reads.Add(1)
	c.bytes.Add(length)
	for old := c.longest.Load(); length > old && !c.longest.CompareAndSwap(old, length); old = c.longest.Load() {
	}
	if c.gate != nil {
		select {
		case <-c.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return c.inner.ReadURL(ctx, url, off, length)
}

// synthReader serves any range of a layout's shard by generating its bytes,
// so that tests can stream far more data than they hold in memory.
type synthReader struct{ l *layout }

func (s synthReader) ReadURL(_ context.Context, _ string, off, length int64) (io.ReadCloser, error) {
	return io.NopCloser(&synthBody{l: s.l, pos: off, end: off + length}), nil
}

type synthBody struct {
	l        *layout
	pos, end int64
	cur      int    // index of the block buf holds
	buf      []byte // that block's bytes
}

func (b *synthBody) Read(p []byte) (int, error) {
	if b.pos >= b.end {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), b.end-b.pos)]
	// Find the block at or after pos (blocks are in order, gaps before each).
	i := b.cur
	for i < len(b.l.blocks) && b.l.blocks[i].off+b.l.blocks[i].len <= b.pos {
		i++
	}
	blk := b.l.blocks[i]
	if b.pos < blk.off { // in the gap
		n := min(int64(len(p)), blk.off-b.pos)
		for j := range p[:n] {
			p[j] = 0xa5
		}
		b.pos += n
		return int(n), nil
	}
	if b.buf == nil || b.cur != i {
		b.cur, b.buf = i, b.l.block(i)
	}
	n := copy(p, b.buf[b.pos-blk.off:])
	b.pos += int64(n)
	return n, nil
}
