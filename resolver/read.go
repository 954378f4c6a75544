package resolver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/multiformats/go-multihash"

	"github.com/cargate/cargate/internal/blobstore"
	"github.com/cargate/cargate/internal/retry"

	cgverify "github.com/cargate/cargate/internal/verify"
)

// Retry policy of one coalesced read (fetch): the one budget of that read,
// whatever the store. A failure that verified at least one new block
// resumes at once from the first unverified block; a failure that made no
// progress waits a random delay in (0, min(retryBackoffMax,
// retryBackoffBase·2^(n-1))] ("full jitter"; at least a server's
// Retry-After, up to retryBackoffMax) and counts towards
// maxFailsPerSource·len(sources), after which the read fails. The blob
// store is told (retry.CallerRetries) to make one request per attempt, so
// a read of a store that always fails makes maxFailsPerSource requests per
// source, not that times the store's own retries.
const (
	maxFailsPerSource = 3
	retryBackoffBase  = 20 * time.Millisecond
	retryBackoffMax   = time.Second
)

// pipelineReads keeps the next coalesced read of a shard in flight while
// the blocks of the current one are handed out (see pipeline). A variable
// only so that benchmarks can compare; it is not a setting.
var pipelineReads = true

// call is one coalesced read in flight; readers of any block in it wait.
type call struct {
	done   chan struct{}
	cancel context.CancelFunc
	shard  *Shard
	want   []span
	// waiters and wanted are guarded by Resolver.mu. When the last waiter
	// gives up before the read ends, the read is cancelled.
	waiters int
	wanted  map[string]bool
	// blocks, head and err are set before done is closed. head is the
	// block the read failed at: err is its error; the blocks after it
	// were not reached.
	blocks map[string][]byte
	head   string
	err    error
}

// reads reports whether c reads cd's span (and not the same block at
// another place). Shards compare by digest: two Locator answers make two
// Shard values for one shard.
func (c *call) reads(cd cand) bool {
	if c.shard != cd.shard && string(c.shard.Digest) != string(cd.shard.Digest) {
		return false
	}
	want := cd.span()
	for _, sp := range c.want {
		if sp == want {
			return true
		}
	}
	return false
}

// read returns the verified bytes of the block at cd, reading it together
// with its neighbours in one ranged read when they are close. The read runs
// on its own (bounded by ReadTimeout) so that a caller whose deadline ends
// returns at once while other callers of the same read keep waiting.
func (r *Resolver) read(ctx context.Context, key string, cd cand) ([]byte, error) {
	r.mu.Lock()
	// The block may have landed in read-ahead since Block looked.
	if b, ok := r.readAhead.take(key); ok {
		r.mu.Unlock()
		r.keep(key, b)
		return b, nil
	}
	c, ok := r.inflight[key]
	if !ok || !c.reads(cd) {
		// A read someone waits for always starts, but its neighbours are
		// read-ahead: they take what is left of ReadAheadBytes (at least
		// minDemandSpan), and the read books them against it, so that
		// many streams together hold no more read-ahead than one budget.
		want := r.plan(cd.shard, cd.idx, min(r.cfg.MaxSpan, max(minDemandSpan, r.readAhead.free(r.cfg.MaxSpan))))
		n := spanBytes(want)
		r.readAhead.book(n)
		c = r.start(ctx, cd.shard, cd.idx, want, n)
	}
	c.waiters++
	c.wanted[key] = true
	r.mu.Unlock()
	return r.wait(ctx, c, key)
}

// start registers a coalesced read of want (which begins at s.order[idx])
// and runs it in a new goroutine. reserved is read-ahead budget booked for
// it, released when it ends. Called with r.mu held.
func (r *Resolver) start(ctx context.Context, s *Shard, idx int, want []span, reserved int64) *call {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ReadTimeout)
	unhook := context.AfterFunc(r.closing, cancel)
	c := &call{done: make(chan struct{}), cancel: cancel, shard: s, want: want, wanted: map[string]bool{}}
	for _, sp := range want {
		r.inflight[sp.key] = c
	}
	counted := !r.closed
	if counted {
		r.wg.Add(1)
	}
	go func() {
		if counted {
			defer r.wg.Done()
		}
		defer unhook()
		r.run(fctx, c, s, idx, want, reserved)
	}()
	return c
}

// run does the read, then hands its blocks out: those someone waits for
// to the block cache, the others to read-ahead (before the read stops
// being findable in inflight, so no block is ever read twice by a race).
func (r *Resolver) run(ctx context.Context, c *call, s *Shard, idx int, want []span, reserved int64) {
	blocks, head, err := r.safeFetch(ctx, s, want)
	c.cancel()
	r.mu.Lock()
	c.blocks, c.head, c.err = blocks, head, err
	var ahead []span
	for _, sp := range want {
		if _, ok := blocks[sp.key]; ok && !c.wanted[sp.key] {
			ahead = append(ahead, sp)
		}
	}
	r.forget(c)
	var hook func()
	if next := idx + len(want); err == nil && pipelineReads && next < len(s.order) && len(ahead) > 0 {
		last := ahead[len(ahead)-1].key
		hook = func() { r.pipeline(s, next, last) }
	}
	for _, sp := range ahead {
		r.readAhead.put(sp.key, blocks[sp.key], hook)
		hook = nil // only the first block handed out ahead starts the next read
	}
	r.mu.Unlock()
	if reserved > 0 {
		r.readAhead.release(reserved)
	}
	close(c.done)
	// No waiter can join c any more: c.wanted is final.
	for k := range c.wanted {
		if b, ok := blocks[k]; ok {
			r.keep(k, b)
		}
	}
}

// pipeline starts the coalesced read that begins at s.order[idx], without
// waiting for anyone to ask for those blocks: it runs when a consumer takes
// the first read-ahead block of the previous read, so the next ranged GET
// overlaps the sending of the current one. It is skipped when the blocks are
// already coming, when the consumer has already gone past the previous read
// (its last read-ahead block, last, was taken: the consumer asked for the
// next blocks itself), or when read-ahead memory (held plus booked) has no
// room for its first block; with less room than MaxSpan it reads less, so
// memory stays bounded by ReadAheadBytes however many streams there are.
func (r *Resolver) pipeline(s *Shard, idx int, last string) {
	defer func() {
		if p := recover(); p != nil {
			r.recovered("pipeline", p) // nobody waits on it: logged only
		}
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	first := s.order[idx]
	if _, busy := r.inflight[first.key]; busy || r.readAhead.has(first.key) || !r.readAhead.has(last) {
		return
	}
	limit := r.readAhead.free(r.cfg.MaxSpan)
	if limit < first.len {
		return
	}
	want := r.plan(s, idx, limit)
	n := spanBytes(want)
	if !r.readAhead.reserve(n) {
		return
	}
	c := r.start(context.Background(), s, idx, want, n)
	c.waiters++ // the pipeline's own hold: never cancelled for want of readers
}

// forget removes c's blocks from inflight (those still pointing at c).
// Called with r.mu held.
func (r *Resolver) forget(c *call) {
	for _, sp := range c.want {
		if r.inflight[sp.key] == c {
			delete(r.inflight, sp.key)
		}
	}
}

// wait returns key's block from c once c is done, or gives up when ctx
// ends (cancelling the read when no one else waits for it).
func (r *Resolver) wait(ctx context.Context, c *call, key string) ([]byte, error) {
	select {
	case <-c.done:
	case <-ctx.Done():
		r.mu.Lock()
		c.waiters--
		if c.waiters == 0 {
			// Abandoned: cancel it, and let a later caller of its blocks
			// start a fresh read rather than join a cancelled one.
			c.cancel()
			r.forget(c)
		}
		r.mu.Unlock()
		return nil, ctx.Err()
	}
	if b, ok := c.blocks[key]; ok {
		return b, nil
	}
	switch {
	case key == c.head && c.err != nil:
		return nil, c.err
	case c.err == nil: // the read was narrowed to an earlier block (see fetch)
		return nil, errNotReached
	}
	return nil, fmt.Errorf("%w: %w", errNotReached, c.err)
}

// minDemandSpan is the least a read someone waits for may span when
// read-ahead memory is short: the block asked for, and neighbours up to
// this many bytes, so that a stream still reads in runs of a few blocks.
const minDemandSpan = 2 << 20

// spanBytes is how many bytes a read of want (sorted, non-empty) covers.
func spanBytes(want []span) int64 {
	return want[len(want)-1].off + want[len(want)-1].len - want[0].off
}

// plan returns the blocks to read with s.order[idx]: it and the blocks
// that follow it in the shard, while the gap between them stays under
// MaxGap, the whole read under limit (at most MaxSpan; the first block is
// always read), and no one else is reading them. Called with r.mu held.
func (r *Resolver) plan(s *Shard, idx int, limit int64) []span {
	order := s.order
	first := order[idx]
	want := []span{first}
	end := first.off + first.len
	for i := idx + 1; i < len(order); i++ {
		next := order[i]
		if next.off-end > r.cfg.MaxGap || next.off+next.len-first.off > limit {
			break
		}
		if _, busy := r.inflight[next.key]; busy || r.readAhead.has(next.key) {
			break
		}
		if next.off < end { // overlapping entries: a malformed index
			break
		}
		want = append(want, next)
		end = next.off + next.len
	}
	return want
}

// safeFetch is fetch with any panic in it (a blob store's reader, say)
// turned into an error that blames the read's first block.
func (r *Resolver) safeFetch(ctx context.Context, s *Shard, want []span) (got map[string][]byte, head string, err error) {
	defer func() {
		if p := recover(); p != nil {
			got, head, err = map[string][]byte{}, want[0].key, r.recovered("read", p)
		}
	}()
	return r.fetch(ctx, s, want)
}

// fetch reads the blocks of want (sorted, in one shard) and verifies each.
// It tries the shard's sources in turn. A failure part-way resumes from the
// first block not yet verified; failures without progress back off (see
// the retry constants). A source that served a wrong block, or does not
// hold the shard, is not asked again in this call. On failure it returns
// the block it failed at (head): the blocks after it were not tried.
func (r *Resolver) fetch(ctx context.Context, s *Shard, want []span) (map[string][]byte, string, error) {
	got := make(map[string][]byte, len(want))
	if len(s.Sources) == 0 {
		return got, want[0].key, fmt.Errorf("shard %s has no location: %w", s.Digest.B58String(), ErrNotFound)
	}
	bad := make([]bool, len(s.Sources))
	var errs []error
	pol := retry.Policy{Base: retryBackoffBase, Max: retryBackoffMax, Attempts: maxFailsPerSource * len(s.Sources)}
	fails := 0
	narrowed := false
	for i := 0; len(want) > 0 && !allTrue(bad); i = (i + 1) % len(s.Sources) {
		if bad[i] {
			continue
		}
		start := time.Now()
		n, err := r.readSpan(ctx, s.Sources[i], want, got)
		r.m.observeRead(start, n, err)
		want = want[n:]
		if err == nil {
			break
		}
		if n == 0 && len(want) > 1 && !narrowed && errors.Is(err, blobstore.ErrNotFound) {
			// The store refused the coalesced range as a whole: a later
			// block's place (from some index) may reach past the blob.
			// Read the first block alone, from the same source, before
			// blaming the source or that block; the others are left to
			// reads of their own.
			want, narrowed = want[:1], true
			i--
			continue
		}
		errs = append(errs, err)
		bad[i] = errors.Is(err, ErrUnverified) || errors.Is(err, blobstore.ErrNotFound)
		if n > 0 {
			fails = 0
		} else {
			fails++
		}
		if pol.GiveUp(fails) || ctx.Err() != nil {
			break
		}
		if n == 0 && !bad[i] {
			if err := retry.Sleep(ctx, pol.Delay(fails, retry.After(err))); err != nil {
				break
			}
		}
	}
	if len(want) == 0 {
		return got, "", nil
	}
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return got, want[0].key, fmt.Errorf("shard %s: %w", s.Digest.B58String(), errors.Join(errs...))
}

func allTrue(bs []bool) bool {
	for _, b := range bs {
		if !b {
			return false
		}
	}
	return true
}

// bufReaders recycles the buffers readSpan reads bodies through.
var bufReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 256<<10) }}

// readSpan reads want from one source with one ranged read, verifying each
// block; it returns how many blocks of want it verified (and stored in got).
// No block leaves it unverified.
func (r *Resolver) readSpan(ctx context.Context, src Source, want []span, got map[string][]byte) (int, error) {
	first, last := want[0], want[len(want)-1]
	length := last.off + last.len - first.off
	rc, err := r.reader.ReadURL(retry.CallerRetries(ctx), src.URL, src.Offset+first.off, length)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	br := bufReaders.Get().(*bufio.Reader)
	br.Reset(rc)
	defer func() { br.Reset(nil); bufReaders.Put(br) }()
	// Each block is hashed while the next one is read (for blocks large
	// enough to be worth a goroutine), so a stream is verified on one core
	// while it is read on another. Blocks enter got strictly in order.
	var prev *pendingBlock
	settle := func() error {
		if prev == nil {
			return nil
		}
		p := prev
		prev = nil
		if err := <-p.done; err != nil {
			r.m.verifyFailures.Inc()
			r.log.Warn("stored block failed verification", "url", src.URL, "offset", src.Offset+p.sp.off, "err", err)
			return fmt.Errorf("read %s: %w", src.URL, err)
		}
		got[p.sp.key] = p.data
		return nil
	}
	pos := first.off
	for i, sp := range want {
		b, err := readBlock(br, sp, pos)
		if err != nil {
			if verr := settle(); verr != nil {
				return i - 1, verr
			}
			return i, fmt.Errorf("read %s: %w", src.URL, err)
		}
		p := &pendingBlock{sp: sp, data: b, done: make(chan error, 1)}
		if sp.len >= parallelVerifyBytes {
			go func() { p.done <- r.safeVerify(sp.key, b) }()
		} else {
			p.done <- verify(sp.key, b)
		}
		if err := settle(); err != nil {
			<-p.done
			return i - 1, err
		}
		prev = p
		pos = sp.off + sp.len
	}
	if err := settle(); err != nil {
		return len(want) - 1, err
	}
	return len(want), nil
}

// parallelVerifyBytes is the smallest block hashed beside the next read.
const parallelVerifyBytes = 64 << 10

// pendingBlock is a block read and being verified.
type pendingBlock struct {
	sp   span
	data []byte
	done chan error
}

// readBlock reads sp's bytes, skipping the gap from pos. Spans are
// planned from usable positions only; the bounds are checked again here,
// where a length becomes an allocation.
func readBlock(br *bufio.Reader, sp span, pos int64) ([]byte, error) {
	if sp.len < 0 || sp.len > MaxBlockSize || sp.off < pos {
		return nil, fmt.Errorf("%w: %d+%d after %d", errBadSpan, sp.off, sp.len, pos)
	}
	if _, err := br.Discard(int(sp.off - pos)); err != nil {
		return nil, noEOF(err)
	}
	b := make([]byte, sp.len)
	if _, err := io.ReadFull(br, b); err != nil {
		return nil, noEOF(err)
	}
	return b, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// safeVerify is verify on a goroutine of its own: a panic in hashing
// fails the block, never the process (and never passes its bytes).
func (r *Resolver) safeVerify(key string, data []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %w", ErrUnverified, r.recovered("verify", p))
		}
	}()
	return verify(key, data)
}

// verify checks data against the multihash key.
func verify(key string, data []byte) error {
	if err := cgverify.Block(multihash.Multihash(key), data); err != nil {
		return fmt.Errorf("%w: %w", ErrUnverified, err)
	}
	return nil
}
