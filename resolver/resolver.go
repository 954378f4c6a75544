package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	// MaxCachedBlock is the largest block kept in the block cache. Larger
	// blocks are file data read as streams: a stream passes each block
	// once, so keeping them only churns memory (8 streams of 1 MiB chunks
	// through a 64 MiB cache doubled the heap the GC has to leave room
	// for); a repeat is served by read-ahead, the response cache (whole
	// small answers) or the store (the page cache, for local disk).
	MaxCachedBlock int64
	// ReadAheadBytes bounds blocks read ahead (by coalescing) but not yet
	// asked for, together with the reads in flight that bring them, for
	// all streams together: a read is planned within what is left (at
	// least minDemandSpan for a block someone waits for).
	ReadAheadBytes int64
	// LocationCacheBytes bounds the cache of block positions.
	LocationCacheBytes int64
	// NegativeTTL is how long an unknown block is remembered as unknown.
	NegativeTTL time.Duration
	// ReadTimeout bounds one coalesced read, retries included.
	ReadTimeout time.Duration
	// Allowed, when set, limits what is served to blocks with a place
	// in a shard of a space it allows (a shard's Space is set only when
	// the claim's authority for it was shown); other places are not
	// used, and a block with none is not found — also when its bytes are
	// in memory. ctx is the request's (it may carry the client's token).
	Allowed func(ctx context.Context, space string) bool
}

// Defaults for Config.
const (
	DefaultMaxGap             = 64 << 10
	DefaultMaxSpan            = 8<<20 + 64<<10 // eight 1 MiB chunks with their CAR section headers
	DefaultBlockCacheBytes    = 64 << 20
	DefaultMaxCachedBlock     = 256 << 10
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
	if c.MaxCachedBlock <= 0 {
		c.MaxCachedBlock = DefaultMaxCachedBlock
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
	closed   bool // guarded by mu: no read joins wg any more

	// closing ends every read still running when Close is called; wg
	// counts them, so Close returns only when none is left.
	closing   context.Context
	stopReads context.CancelFunc
	wg        sync.WaitGroup

	failed *failedSet // positions that failed lately: tried last
}

// blockLoc is a block's cached candidates, most trusted first; none
// means "unknown" (a negative entry).
type blockLoc struct {
	cands []cand
	// direct: the answer of a Locate of this very block, not of another
	// block of its DAG.
	direct bool
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
	closing, stopReads := context.WithCancel(context.Background())
	return &Resolver{
		locator: locator, reader: reader, cfg: cfg, log: log, m: newMetrics(reg),
		locs: locs, blocks: blks, readAhead: newFIFO(cfg.ReadAheadBytes),
		inflight: map[string]*call{}, failed: newFailedSet(failedMax, failedTTL),
		closing: closing, stopReads: stopReads,
	}, nil
}

// Close cancels the reads still running (read-ahead included), waits for
// them to end, and releases caches.
func (r *Resolver) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.stopReads()
	r.wg.Wait()
	r.locs.Close()
	r.blocks.Close()
}

// keep puts a verified block in the block cache, unless it is larger
// than MaxCachedBlock.
func (r *Resolver) keep(key string, b []byte) {
	if int64(len(b)) <= r.cfg.MaxCachedBlock {
		r.blocks.Set(key, b, int64(len(b)), 0)
	}
}

// Block returns the verified bytes of the block with CID c. It tries the
// block's candidate places in order; one that fails (wrong bytes, short
// read, read error) is evicted from the cache and the next is tried.
func (r *Resolver) Block(ctx context.Context, c cid.Cid) ([]byte, error) {
	key := string(c.Hash())
	if b, ok := r.blocks.Get(key); ok {
		return b, r.fromMemory(ctx, c.Hash())
	}
	if b, ok := r.readAhead.take(key); ok {
		r.keep(key, b)
		return b, r.fromMemory(ctx, c.Hash())
	}
	loc, err := r.locate(ctx, c.Hash())
	if err != nil {
		return nil, err
	}
	b, tried, errs := r.tryCands(ctx, key, loc.cands, nil)
	if b != nil {
		return b, nil
	}
	if ctx.Err() != nil {
		return nil, errors.Join(errs...)
	}
	if !loc.direct {
		// Every place came with the answer about another block of the
		// DAG (which names only that block's shards): ask about this
		// block itself, which names its own.
		fresh, err := r.relocate(ctx, c.Hash())
		if err != nil {
			errs = append(errs, err)
		} else {
			var more []error
			b, _, more = r.tryCands(ctx, key, fresh.cands, tried)
			if b != nil {
				return b, nil
			}
			errs = append(errs, more...)
		}
	}
	return nil, fmt.Errorf("block %s: every place failed: %w", c.Hash().B58String(), candidatesFailed(errs))
}

// tryCands reads key from each of cands in turn (those that failed lately
// last, even in an entry cached before they failed: the cache applies
// writes asynchronously), skipping those in skip, evicting each that
// fails. It returns the verified bytes, or the places tried and why each
// failed.
func (r *Resolver) tryCands(ctx context.Context, key string, cands []cand, skip []string) ([]byte, []string, []error) {
	var tried []string
	var errs []error
	for _, cd := range r.failedLast(cands) {
		if slices.Contains(skip, cd.id()) {
			continue
		}
		b, err := r.readCand(ctx, key, cd)
		if err == nil {
			RecordSpace(ctx, cd.shard.Space)
			return b, nil, nil
		}
		if ctx.Err() != nil {
			return nil, nil, []error{err}
		}
		tried = append(tried, cd.id())
		errs = append(errs, err)
		r.evict(key, cd, err)
	}
	return nil, tried, errs
}

// relocate asks the Locator about h afresh, past the cache, and caches
// the answer.
func (r *Resolver) relocate(ctx context.Context, h multihash.Multihash) (*blockLoc, error) {
	found, err := r.safeLocate(ctx, h)
	if err != nil {
		return nil, err
	}
	mine := r.remember(string(h), found)
	if mine == nil {
		return nil, fmt.Errorf("%s: no usable place: %w", h.B58String(), ErrNotFound)
	}
	r.locs.Set(string(h), mine, int64(64+32*len(mine.cands)), 0)
	return r.permitted(ctx, h, mine)
}

// fromMemory does for a block held in memory what serving it from storage
// does: with Allowed set, a block with no place in an allowed space is
// ErrNotFound; and the space of its first place is recorded for billing.
// Neither may depend on whether a block was cached. The location is
// almost always cached; when the cache let it go, it is located again.
func (r *Resolver) fromMemory(ctx context.Context, h multihash.Multihash) error {
	if r.cfg.Allowed == nil && spaceRecorder(ctx) == nil {
		return nil
	}
	loc, err := r.locate(ctx, h)
	if err != nil {
		if r.cfg.Allowed == nil {
			return nil // verified bytes with no place found again: served unbilled
		}
		return err
	}
	RecordSpace(ctx, loc.cands[0].shard.Space)
	return nil
}

// permitted is loc with only the places Allowed allows (all of them when
// it is unset); none is ErrNotFound.
func (r *Resolver) permitted(ctx context.Context, h multihash.Multihash, loc *blockLoc) (*blockLoc, error) {
	if r.cfg.Allowed == nil {
		return loc, nil
	}
	ok := make([]cand, 0, len(loc.cands))
	for _, cd := range loc.cands {
		if r.cfg.Allowed(ctx, cd.shard.Space) {
			ok = append(ok, cd)
		}
	}
	if len(ok) == 0 {
		return nil, fmt.Errorf("%s: in no space this node may serve: %w", h.B58String(), ErrNotFound)
	}
	return &blockLoc{cands: ok, direct: loc.direct}, nil
}

// readCand reads key at cd. A block that was only collateral of a failed
// coalesced read (an earlier block in it failed) is read once more, in a
// read that starts at it.
func (r *Resolver) readCand(ctx context.Context, key string, cd cand) ([]byte, error) {
	b, err := r.read(ctx, key, cd)
	if errors.Is(err, errNotReached) && ctx.Err() == nil {
		b, err = r.read(ctx, key, cd)
	}
	return b, err
}

// candidatesFailed is the error of a block whose every candidate failed:
// ErrUnverified when any of them served wrong bytes (a 502), else all of
// the errors as they are.
func candidatesFailed(errs []error) error {
	err := errors.Join(errs...)
	for _, e := range errs {
		if errors.Is(e, ErrUnverified) {
			return err
		}
	}
	if len(errs) == 0 {
		return ErrNotFound
	}
	return err
}

// evict drops cd from key's cached candidates, so that later requests try
// the others first; when none is left the entry goes and the next request
// asks the Locator again. The position is also remembered as failed for a
// while, so that a fresh Locator answer (for this block or any block of
// the same DAG) puts it last.
func (r *Resolver) evict(key string, cd cand, err error) {
	r.m.positionFailures.WithLabelValues("read").Inc()
	r.log.Warn("block position failed; trying the next", "block", multihash.Multihash(key).B58String(),
		"shard", cd.shard.Digest.B58String(), "offset", cd.span().off, "length", cd.span().len, "err", err)
	r.failed.add(cd.id())
	r.mu.Lock() // serialises read-modify-write of the cached entry
	defer r.mu.Unlock()
	cur, ok := r.locs.Get(key)
	if !ok {
		return
	}
	rest := make([]cand, 0, len(cur.cands))
	for _, c := range cur.cands {
		if c.id() != cd.id() {
			rest = append(rest, c)
		}
	}
	if len(rest) == 0 {
		r.locs.Del(key)
		return
	}
	r.locs.Set(key, &blockLoc{cands: rest, direct: cur.direct}, int64(64+32*len(rest)), 0)
}

// Size returns the size of the block with CID c. When its candidates
// disagree on the length, the block is read: a length in a claim is not
// evidence.
func (r *Resolver) Size(ctx context.Context, c cid.Cid) (int, error) {
	if b, ok := r.blocks.Get(string(c.Hash())); ok {
		return len(b), r.fromMemory(ctx, c.Hash())
	}
	loc, err := r.locate(ctx, c.Hash())
	if err != nil {
		return 0, err
	}
	n := loc.cands[0].span().len
	for _, cd := range loc.cands[1:] {
		if cd.span().len != n {
			b, err := r.Block(ctx, c)
			return len(b), err
		}
	}
	return int(n), nil
}

// locate returns a block's cached candidates, asking the Locator on a
// miss and caching its whole answer.
func (r *Resolver) locate(ctx context.Context, h multihash.Multihash) (*blockLoc, error) {
	key := string(h)
	loc, err := r.locs.GetOrLoad(ctx, key, func(ctx context.Context) (*blockLoc, int64, time.Duration, error) {
		found, err := r.safeLocate(ctx, h)
		if errors.Is(err, ErrNotFound) {
			return &blockLoc{}, 64, r.cfg.NegativeTTL, nil
		}
		if err != nil {
			return nil, 0, 0, err
		}
		if mine := r.remember(key, found); mine != nil {
			return mine, int64(64 + 32*len(mine.cands)), 0, nil
		}
		// Known block in a shard that no location claim names yet, or at
		// no usable position.
		return &blockLoc{}, 64, r.cfg.NegativeTTL, nil
	})
	if err != nil {
		return nil, err
	}
	if len(loc.cands) == 0 {
		return nil, fmt.Errorf("%s: %w", h.B58String(), ErrNotFound)
	}
	return r.permitted(ctx, h, loc)
}

// safeLocate asks the Locator, turning a panic (say, on a malformed index
// it decodes) into an error: the load may run on a goroutine of the cache
// that nothing else recovers.
func (r *Resolver) safeLocate(ctx context.Context, h multihash.Multihash) (found *Located, err error) {
	defer func() {
		if p := recover(); p != nil {
			found, err = nil, r.recovered("locate", p)
		}
	}()
	return r.locator.Locate(ctx, h)
}

// remember caches the candidates of every block in found and returns
// those of key.
func (r *Resolver) remember(key string, found *Located) *blockLoc {
	cands, dropped := found.prepare()
	if dropped > 0 {
		r.m.positionFailures.WithLabelValues("bounds").Add(float64(dropped))
		r.log.Warn("locator named unusable block positions; ignored", "count", dropped,
			"block", multihash.Multihash(key).B58String())
	}
	var mine *blockLoc
	for k, cs := range cands {
		bl := &blockLoc{cands: cs}
		if k == key {
			bl.direct = true
			mine = bl
			continue
		}
		r.locs.Set(k, bl, int64(64+32*len(cs)), 0)
	}
	return mine
}

// failedLast moves the candidates that failed lately to the end.
func (r *Resolver) failedLast(cs []cand) []cand {
	if r.failed.empty() {
		return cs
	}
	good := make([]cand, 0, len(cs))
	var bad []cand
	for _, c := range cs {
		if r.failed.has(c.id()) {
			bad = append(bad, c)
		} else {
			good = append(good, c)
		}
	}
	if len(bad) == 0 {
		return cs
	}
	return append(good, bad...)
}
