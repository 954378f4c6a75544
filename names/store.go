package names

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ipfs/boxo/ipns"
	"github.com/libp2p/go-libp2p/core/routing"
)

// ErrBadRecord is returned for a record that may not be stored: it does
// not parse, is not signed by the name's key, or has expired.
var ErrBadRecord = errors.New("invalid IPNS record")

// ErrStoreFull is returned when the store holds MaxRecords names already
// and a record for a new name arrives.
var ErrStoreFull = errors.New("IPNS record store is full")

// DefaultMaxRecords bounds how many names a Store keeps: anyone can make
// keys and sign records for them, so the count must not grow unbounded.
const DefaultMaxRecords = 100_000

// recordExt names the files of a Store, as the IPNS spec names record files.
const recordExt = ".ipns-record"

// Store keeps the best valid record of each name as a file in a directory.
// Files (not the claim store) so that `cargate import` can add records
// while `cargate serve` holds the data dir: writes are atomic renames
// under a file lock, and reads always see a whole record.
type Store struct {
	dir string
	max int
	mu  sync.Mutex // with the file lock, orders read-compare-write
	// names counts the records, from one listing at open, then by the
	// puts of this process (another process's puts are not seen: the
	// bound is approximate, and costs no listing per put).
	names int
}

// OpenStore opens (creating it if needed) the record store in dir.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("ipns record store: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("ipns record store: %w", err)
	}
	s := &Store{dir: dir, max: DefaultMaxRecords}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), recordExt) {
			s.names++
		}
	}
	return s, nil
}

func (s *Store) file(name ipns.Name) string {
	return filepath.Join(s.dir, name.String()+recordExt)
}

// Validate parses raw and checks it is a valid, unexpired record of name.
func Validate(name ipns.Name, raw []byte) (*ipns.Record, error) {
	if len(raw) > ipns.MaxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes, over the %d-byte limit", ErrBadRecord, len(raw), ipns.MaxRecordSize)
	}
	rec, err := ipns.UnmarshalRecord(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	if err := ipns.ValidateWithName(rec, name); err != nil {
		return nil, fmt.Errorf("%w for %s: %v", ErrBadRecord, name, err)
	}
	return rec, nil
}

// Put stores raw as the record of name if it is valid and better than
// the one kept (higher sequence, then later expiry); a valid record that
// is not better is accepted and dropped. It reports whether raw was kept.
func (s *Store) Put(ctx context.Context, name ipns.Name, raw []byte) (bool, error) {
	if _, err := Validate(name, raw); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := s.lock()
	if err != nil {
		return false, err
	}
	defer unlock()
	old, err := s.Get(ctx, name)
	switch {
	case err == nil:
		if bytes.Equal(old, raw) {
			return true, nil
		}
		best, err := ipns.Validator{}.Select(string(name.RoutingKey()), [][]byte{old, raw})
		if err != nil {
			return false, fmt.Errorf("%w: %v", ErrBadRecord, err)
		}
		if best == 0 {
			return false, nil
		}
	case errors.Is(err, routing.ErrNotFound):
		if _, statErr := os.Stat(s.file(name)); statErr != nil { // a new name, not an expired one
			if s.names >= s.max {
				return false, ErrStoreFull
			}
			if err := s.write(name, raw); err != nil {
				return false, err
			}
			s.names++
			return true, nil
		}
	default:
		return false, err
	}
	return true, s.write(name, raw)
}

func (s *Store) write(name ipns.Name, raw []byte) error {
	tmp, err := os.CreateTemp(s.dir, ".put-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.file(name))
}

// lock takes the store's file lock, shared with other processes on the
// same data dir.
func (s *Store) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// Get returns the kept record of name, validated again (it may have
// expired since it was stored): routing.ErrNotFound when there is none
// valid.
func (s *Store) Get(_ context.Context, name ipns.Name) ([]byte, error) {
	f, err := os.Open(s.file(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, routing.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := ReadRecord(f)
	if errors.Is(err, ErrBadRecord) {
		return nil, routing.ErrNotFound // damaged: as if absent
	}
	if err != nil {
		return nil, err
	}
	if _, err := Validate(name, raw); err != nil {
		return nil, routing.ErrNotFound // expired (or damaged): as if absent
	}
	return raw, nil
}

// ReadRecord reads one record from r, refusing one over the size limit
// without reading past it.
func ReadRecord(r io.Reader) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r, int64(ipns.MaxRecordSize)+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > ipns.MaxRecordSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadRecord, ipns.MaxRecordSize)
	}
	return raw, nil
}
