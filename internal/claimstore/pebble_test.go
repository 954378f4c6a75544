package claimstore

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

func claimOf(t *testing.T, s string) (cid.Cid, multihash.Multihash) {
	t.Helper()
	h, err := multihash.Sum([]byte(s), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h), h
}

// TestFullDiskIsUnavailableNotExit: with every write failing as on a full
// disk, Put returns ErrUnavailable (pebble used to call os.Exit from the
// write, taking the whole process down: this test binary would not get
// to report anything), later Puts fail at once, and what was written
// before can still be found.
func TestFullDiskIsUnavailableNotExit(t *testing.T) {
	full := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return syscall.ENOSPC
		}
		return nil
	})}
	s, err := openPebble("claims", errorfs.Wrap(vfs.NewMem(), full))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	before, key := claimOf(t, "before")
	if err := s.Put(ctx, before, []byte("claim"), []multihash.Multihash{key}); err != nil {
		t.Fatal(err)
	}
	full.On()
	after, key2 := claimOf(t, "after")
	for i := 0; i < 2; i++ {
		if err := s.Put(ctx, after, []byte("claim"), []multihash.Multihash{key2}); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("put %d on a full disk: %v, want ErrUnavailable", i, err)
		}
	}
	if err := s.Writable(); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Writable after the failure: %v, want ErrUnavailable (readiness must say so)", err)
	}
	got, err := s.Find(ctx, key)
	if err != nil || len(got) != 1 || !got[0].Equals(before) {
		t.Errorf("find after the failure: %v %v", got, err)
	}
}
