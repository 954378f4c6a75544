package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/cache"
	"github.com/cargate/cargate/internal/blobstore"
)

// Config tunes reads.
type Config struct {
	// MaxGap is the largest run of unneeded bytes between two blocks of a
	// shard that is still read through rather than split into two reads.
	MaxGap int64
	// MaxSpan caps one coalesced read.
	MaxSpan int64
	// BlockCacheBytes bounds the cache of verified blocks.
	BlockCacheBytes int64
	// ReadAheadBytes bounds blocks read ahead (by coalescing) but not yet asked for.
	ReadAheadBytes int64
	// LocationCacheBytes bounds the cache of block positions.
	LocationCacheBytes int64
	// NegativeTTL is how long an unknown block is remembered as unknown.
	NegativeTTL time.Duration
	// ReadTimeout bounds one coalesced read, retries included.
	ReadTimeout time.Duration
}

// Defaults for Config.
const (
	DefaultMaxGap             = 64 << 10
	DefaultMaxSpan            = 8<<20 + 64<<10 // eight 1 MiB chunks with their CAR section headers
	DefaultBlockCacheBytes    = 64 << 20
	DefaultReadAheadBytes     = 32 << 20
	DefaultLocationCacheBytes = 64 << 20
	DefaultNegativeTTL        = 5 * time.Second
	DefaultReadTimeout        = 30 * time.Second
)

func (c *Config) setDefaults() {
	if c.MaxGap <= 0 {
		c.MaxGap = DefaultMaxGap
	}
	if c.MaxSpan <= 0 {
		c.MaxSpan = DefaultMaxSpan
	}
	if c.BlockCacheBytes <= 0 {
		c.BlockCacheBytes = DefaultBlockCacheBytes
	}
	if c.ReadAheadBytes <= 0 {
		c.ReadAheadBytes = DefaultReadAheadBytes
	}
	if c.LocationCacheBytes <= 0 {
		c.LocationCacheBytes = DefaultLocationCacheBytes
	}
	if c.NegativeTTL <= 0 {
		c.NegativeTTL = DefaultNegativeTTL
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
}

// Resolver returns verified blocks: it locates them through a Locator,
// reads them (coalescing neighbours into one read) through a URLReader,
// checks each against its hash, and caches what it learns.
type Resolver struct {
	locator Locator
	reader  blobstore.URLReader
	cfg     Config
	log     *slog.Logger
	m       *metrics

	locs      *cache.Local[*blockLoc]
	blocks    *cache.Local[[]byte]
	readAhead *fifo

	mu       sync.Mutex
	inflight map[string]*call

	// OnSpace, when set, is told the space of each shard a block is
	// served from (egress accounting).
	OnSpace func(ctx context.Context, space string)
}

// blockLoc is a cached position: nil shard means "unknown" (negative entry).
type blockLoc struct {
	shard *Shard
	idx   int // index in shard.order
}

// New returns a Resolver.
func New(locator Locator, reader blobstore.URLReader, cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Resolver, error) {
	cfg.setDefaults()
	locs, err := cache.NewLocal[*blockLoc]("resolver_locations", cfg.LocationCacheBytes, reg)
	if err != nil {
		return nil, err
	}
	blks, err := cache.NewLocal[[]byte]("resolver_blocks", cfg.BlockCacheBytes, reg)
	if err != nil {
		return nil, err
	}
	return &Resolver{
		locator: locator, reader: reader, cfg: cfg, log: log, m: newMetrics(reg),
		locs: locs, blocks: blks, readAhead: newFIFO(cfg.ReadAheadBytes),
		inflight: map[string]*call{},
	}, nil
}

// Close releases caches.
func (r *Resolver) Close() {
	r.locs.Close()
	r.blocks.Close()
}

// Block returns the verified bytes of the block with CID c.
func (r *Resolver) Block(ctx context.Context, c cid.Cid) ([]byte, error) {
	key := string(c.Hash())
	if b, ok := r.blocks.Get(key); ok {
		r.noteSpace(ctx, c.Hash())
		return b, nil
	}
	if b, ok := r.readAhead.take(key); ok {
		r.blocks.Set(key, b, int64(len(b)), 0)
		r.noteSpace(ctx, c.Hash())
		return b, nil
	}
	loc, err := r.locate(ctx, c.Hash())
	if err != nil {
		return nil, err
	}
	if r.OnSpace != nil && loc.shard.Space != "" {
		r.OnSpace(ctx, loc.shard.Space)
	}
	return r.read(ctx, key, loc)
}

// noteSpace tells OnSpace the space of a block served from memory: billing
// must not depend on whether a block was cached.
// The location is almost always cached; when the cache let it go, it is
// located again rather than the bytes going unattributed.
func (r *Resolver) noteSpace(ctx context.Context, h multihash.Multihash) {
	if r.OnSpace == nil {
		return
	}
	if loc, err := r.locate(ctx, h); err == nil && loc.shard.Space != "" {
		r.OnSpace(ctx, loc.shard.Space)
	}
}

// Size returns the size of the block with CID c without reading it.
func (r *Resolver) Size(ctx context.Context, c cid.Cid) (int, error) {
	if b, ok := r.blocks.Get(string(c.Hash())); ok {
		return len(b), nil
	}
	loc, err := r.locate(ctx, c.Hash())
	if err != nil {
		return 0, err
	}
	return int(loc.shard.order[loc.idx].len), nil
}

// locate returns a block's cached position, asking the Locator on a miss
// and caching its whole answer.
func (r *Resolver) locate(ctx context.Context, h multihash.Multihash) (*blockLoc, error) {
	key := string(h)
	loc, err := r.locs.GetOrLoad(ctx, key, func(ctx context.Context) (*blockLoc, int64, time.Duration, error) {
		found, err := r.locator.Locate(ctx, h)
		if errors.Is(err, ErrNotFound) {
			return &blockLoc{}, 64, r.cfg.NegativeTTL, nil
		}
		if err != nil {
			return nil, 0, 0, err
		}
		if mine := r.remember(key, found); mine != nil {
			return mine, 128, 0, nil
		}
		// Known block in a shard that no location claim names yet.
		return &blockLoc{}, 64, r.cfg.NegativeTTL, nil
	})
	if err != nil {
		return nil, err
	}
	if loc.shard == nil {
		return nil, fmt.Errorf("%s: %w", h.B58String(), ErrNotFound)
	}
	return loc, nil
}

// remember caches every position in found and returns the one for key.
func (r *Resolver) remember(key string, found *Located) *blockLoc {
	found.prepare()
	var mine *blockLoc
	for _, s := range found.Shards {
		for i, sp := range s.order {
			bl := &blockLoc{shard: s, idx: i}
			if sp.key == key {
				mine = bl
				continue
			}
			r.locs.Set(sp.key, bl, 128, 0)
		}
	}
	return mine
}
