package claimstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// Key layout: 'c' + claim CID bytes -> claim bytes;
// 'k' + multihash bytes + claim CID bytes -> nothing. Multihash bytes are
// self-delimiting (code, length, digest), so 'k'+mh is an exact prefix.
const (
	prefixClaim = 'c'
	prefixKey   = 'k'
)

// Pebble is the embedded Store, kept in a directory.
type Pebble struct {
	db *pebble.DB
	// broken is set when pebble hit an error it cannot go on from (a
	// write to a full disk): its commit pipeline is stopped, so every
	// later write fails at once until a restart. Reads go on.
	broken atomic.Bool
}

var _ Store = (*Pebble)(nil)

// OpenPebble opens (creating if needed) a store in dir.
func OpenPebble(dir string) (*Pebble, error) {
	return openPebble(dir, nil)
}

// openPebble opens a store on fs (nil: the OS's), which tests replace
// with one that injects errors.
func openPebble(dir string, fs vfs.FS) (*Pebble, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}, FS: fs})
	if err != nil {
		return nil, fmt.Errorf("open claim store %s: %w", dir, err)
	}
	return &Pebble{db: db}, nil
}

// Put implements Store. A write pebble cannot make (it reports that with
// a fatal log, which quietLogger turns into a panic) returns
// ErrUnavailable; the process goes on serving.
func (p *Pebble) Put(ctx context.Context, claim cid.Cid, data []byte, keys []multihash.Multihash) (err error) {
	if err := p.Writable(); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(pebbleFatal)
			if !ok {
				panic(r)
			}
			p.broken.Store(true)
			err = fmt.Errorf("%w: %s", ErrUnavailable, string(f))
		}
	}()
	b := p.db.NewBatch()
	defer b.Close()
	cb := claim.Bytes()
	if err := b.Set(append([]byte{prefixClaim}, cb...), data, nil); err != nil {
		return err
	}
	for _, k := range keys {
		key := make([]byte, 0, 1+len(k)+len(cb))
		key = append(append(append(key, prefixKey), k...), cb...)
		if err := b.Set(key, nil, nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

// Writable reports ErrUnavailable once a write has failed for good, so
// readiness checks can say the store takes no claims.
func (p *Pebble) Writable() error {
	if p.broken.Load() {
		return fmt.Errorf("%w: a write failed (is the disk full?); restart once fixed", ErrUnavailable)
	}
	return nil
}

// Find implements Store.
func (p *Pebble) Find(ctx context.Context, key multihash.Multihash) ([]cid.Cid, error) {
	prefix := append([]byte{prefixKey}, key...)
	it, err := p.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: prefix, UpperBound: upperBound(prefix)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []cid.Cid
	for it.First(); it.Valid(); it.Next() {
		_, c, err := cid.CidFromBytes(it.Key()[len(prefix):])
		if err != nil {
			return nil, fmt.Errorf("claim store: corrupt key: %w", err)
		}
		out = append(out, c)
	}
	return out, it.Error()
}

// Claim implements Store.
func (p *Pebble) Claim(ctx context.Context, claim cid.Cid) ([]byte, error) {
	v, closer, err := p.db.Get(append([]byte{prefixClaim}, claim.Bytes()...))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", claim, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return append([]byte(nil), v...), nil
}

// Close implements Store.
func (p *Pebble) Close() error { return p.db.Close() }

// upperBound returns the smallest key greater than every key with prefix.
func upperBound(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// quietLogger drops pebble's informational lines (they would go to
// stdout, which import keeps for root CIDs) and keeps its errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	slog.Error(fmt.Sprintf("pebble: "+format, args...))
}

// Fatalf is how pebble reports an error it cannot go on from, a failed
// commit among them (a full disk). Exiting would take the whole gateway
// down with one write; it panics with pebbleFatal instead, which Put
// turns into ErrUnavailable. (Pebble's other fatal calls are invariant
// checks: a panic there ends the process as exiting would.)
func (quietLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf("pebble: "+format, args...)
	slog.Error(msg)
	panic(pebbleFatal(msg))
}

type pebbleFatal string
