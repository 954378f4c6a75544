package resolver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/multiformats/go-multihash"
)

// call is one coalesced read in flight; readers of any block in it wait.
type call struct {
	done   chan struct{}
	blocks map[string][]byte
	err    error
}

// read returns the verified bytes of the block at loc, reading it together
// with its neighbours in one ranged read when they are close.
func (r *Resolver) read(ctx context.Context, key string, loc *blockLoc) ([]byte, error) {
	r.mu.Lock()
	if c, ok := r.inflight[key]; ok {
		r.mu.Unlock()
		return waitFor(ctx, c, key)
	}
	want := r.plan(loc)
	c := &call{done: make(chan struct{})}
	for _, sp := range want {
		r.inflight[sp.key] = c
	}
	r.mu.Unlock()

	// Others may wait on this read: it must not die with this request.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ReadTimeout)
	last := want[len(want)-1]
	loc.shard.next.Store(last.off + last.len)
	c.blocks, c.err = r.fetch(fctx, loc.shard, want)
	cancel()
	r.mu.Lock()
	for _, sp := range want {
		delete(r.inflight, sp.key)
	}
	r.mu.Unlock()
	close(c.done)

	for k, b := range c.blocks {
		if k == key {
			r.blocks.Set(k, b, int64(len(b)), 0)
		} else {
			r.readAhead.put(k, b)
		}
	}
	if b, ok := c.blocks[key]; ok {
		return b, nil
	}
	return nil, c.err
}

func waitFor(ctx context.Context, c *call, key string) ([]byte, error) {
	select {
	case <-c.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if b, ok := c.blocks[key]; ok {
		return b, nil
	}
	if c.err == nil {
		return nil, fmt.Errorf("block missing from coalesced read")
	}
	return nil, c.err
}

// plan returns the blocks to read with the one at loc: it and the blocks
// that follow it in the shard, while the gap between them stays under
// MaxGap, the whole read under MaxSpan, and no one else is reading them.
// Called with r.mu held.
func (r *Resolver) plan(loc *blockLoc) []span {
	order := loc.shard.order
	first := order[loc.idx]
	want := []span{first}
	end := first.off + first.len
	// Read ahead only for sequential access: when this block starts where
	// the last read of its shard ended (a file streamed in order), or is
	// the shard's first. Random access (single blocks by CID) reads only
	// what it asked for.
	if loc.idx > 0 && first.off-loc.shard.next.Load() > r.cfg.MaxGap {
		return want
	}
	for i := loc.idx + 1; i < len(order); i++ {
		next := order[i]
		if next.off-end > r.cfg.MaxGap || next.off+next.len-first.off > r.cfg.MaxSpan {
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

// fetch reads the blocks of want (sorted, in one shard) and verifies each.
// It tries the shard's sources in turn; a failure part-way resumes from the
// first block not yet verified. A source that serves a wrong block is not
// asked again in this call.
func (r *Resolver) fetch(ctx context.Context, s *Shard, want []span) (map[string][]byte, error) {
	got := make(map[string][]byte, len(want))
	if len(s.Sources) == 0 {
		return got, fmt.Errorf("shard %s has no location: %w", s.Digest.B58String(), ErrNotFound)
	}
	bad := make([]bool, len(s.Sources))
	var errs []error
	const attemptsPerSource = 2
	for attempt := 0; attempt < attemptsPerSource*len(s.Sources) && len(want) > 0; attempt++ {
		i := attempt % len(s.Sources)
		if bad[i] {
			continue
		}
		src := s.Sources[i]
		start := time.Now()
		n, err := r.readSpan(ctx, src, want, got)
		r.m.observeRead(start, n, err)
		want = want[n:]
		if err == nil {
			break
		}
		errs = append(errs, err)
		if errors.Is(err, ErrUnverified) || errors.Is(err, ErrNotFound) {
			bad[i] = true
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(want) == 0 {
		return got, nil
	}
	return got, summarize(s, errs)
}

func summarize(s *Shard, errs []error) error {
	for _, e := range errs {
		if errors.Is(e, ErrUnverified) {
			return fmt.Errorf("shard %s: %w", s.Digest.B58String(), errors.Join(errs...))
		}
	}
	return fmt.Errorf("shard %s: %w", s.Digest.B58String(), errors.Join(errs...))
}

// readSpan reads want from one source with one ranged read, verifying each
// block; it returns how many blocks of want it verified (and stored in got).
func (r *Resolver) readSpan(ctx context.Context, src Source, want []span, got map[string][]byte) (int, error) {
	first, last := want[0], want[len(want)-1]
	length := last.off + last.len - first.off
	rc, err := r.reader.ReadURL(ctx, src.URL, src.Offset+first.off, length)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, int(min(length, 256<<10)))
	pos := first.off
	for i, sp := range want {
		if _, err := br.Discard(int(sp.off - pos)); err != nil {
			return i, fmt.Errorf("read %s: %w", src.URL, noEOF(err))
		}
		b := make([]byte, sp.len)
		if _, err := io.ReadFull(br, b); err != nil {
			return i, fmt.Errorf("read %s: %w", src.URL, noEOF(err))
		}
		if err := verify(sp.key, b); err != nil {
			r.m.verifyFailures.Inc()
			r.log.Warn("stored block failed verification", "url", src.URL, "offset", src.Offset+sp.off, "err", err)
			return i, err
		}
		got[sp.key] = b
		pos = sp.off + sp.len
	}
	return len(want), nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// verify checks data against the multihash key.
func verify(key string, data []byte) error {
	dec, err := multihash.Decode([]byte(key))
	if err != nil {
		return fmt.Errorf("%w: bad multihash: %w", ErrUnverified, err)
	}
	if dec.Code == multihash.IDENTITY {
		if !bytes.Equal(dec.Digest, data) {
			return fmt.Errorf("%w: identity mismatch", ErrUnverified)
		}
		return nil
	}
	sum, err := multihash.Sum(data, dec.Code, dec.Length)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnverified, err)
	}
	if !bytes.Equal(sum, []byte(key)) {
		return fmt.Errorf("%w: block %s hashes to %s", ErrUnverified, multihash.Multihash(key).B58String(), sum.B58String())
	}
	return nil
}
