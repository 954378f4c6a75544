package blobstore

import (
	"context"
	"errors"
	"io"

	"github.com/mr-tron/base58"
	"github.com/multiformats/go-multihash"
)

// ErrNotFound is returned when a blob (or the requested range of it) is not held.
var ErrNotFound = errors.New("blob not found")

// Store keeps blobs (CAR shards and index blobs) addressed by key.
type Store interface {
	// Put stores the blob read from r under key. It returns only once the
	// blob is durable. Putting a key that exists is a no-op (content is immutable).
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// ReadRange returns length bytes of the blob starting at off; length < 0
	// means to the end. ErrNotFound when the blob is not held.
	ReadRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error)
	// Stat returns the blob's size, or ErrNotFound.
	Stat(ctx context.Context, key string) (int64, error)
	// URL is the location recorded in location claims for key: a URL this
	// store (through a Router) or any HTTP client can read.
	URL(key string) string
}

// FileMover is a Store that can take in a finished local file by moving
// it rather than copying its bytes (a directory store on the same file
// system). The file must not be used by the caller afterwards.
type FileMover interface {
	PutFile(ctx context.Context, key, path string) error
}

// Key is the carpark layout key of a blob: <b58 multihash>/<b58 multihash>.blob.
func Key(digest multihash.Multihash) string {
	s := base58.Encode(digest)
	return s + "/" + s + ".blob"
}
