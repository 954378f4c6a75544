package claimstore

import (
	"context"
	"errors"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// ErrNotFound is returned for a claim that is not held.
var ErrNotFound = errors.New("claim not found")

// ErrUnavailable is returned when the store cannot take writes (a full
// disk, an I/O error): the write was not made, and can be retried once
// the operator has fixed the cause and restarted.
var ErrUnavailable = errors.New("claim store unavailable")

// Store keeps claims and the multihashes they are found by.
type Store interface {
	// Put stores claim data under its CID and indexes it under keys,
	// atomically and durably. Putting a claim again only adds keys.
	Put(ctx context.Context, claim cid.Cid, data []byte, keys []multihash.Multihash) error
	// Find returns the CIDs of the claims indexed under key.
	Find(ctx context.Context, key multihash.Multihash) ([]cid.Cid, error)
	// Claim returns the stored bytes of a claim.
	Claim(ctx context.Context, claim cid.Cid) ([]byte, error)
	// Close releases the store.
	Close() error
}
