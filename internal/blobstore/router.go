package blobstore

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// URLReader reads a byte range of the blob at a URL.
type URLReader interface {
	ReadURL(ctx context.Context, url string, off, length int64) (io.ReadCloser, error)
}

// Router reads location URLs: a URL under a configured store's base URL is
// read through that store (local file, signed S3 request); any other URL goes
// to the fallback reader (plain HTTP(S) with Range), if one is set.
type Router struct {
	stores   []Store
	fallback URLReader
}

var _ URLReader = (*Router)(nil)

// NewRouter returns a Router over stores; fallback may be nil.
func NewRouter(fallback URLReader, stores ...Store) *Router {
	return &Router{stores: stores, fallback: fallback}
}

// ReadURL implements URLReader.
func (r *Router) ReadURL(ctx context.Context, url string, off, length int64) (io.ReadCloser, error) {
	for _, s := range r.stores {
		base := s.URL("")
		if strings.HasPrefix(url, base) {
			return s.ReadRange(ctx, url[len(base):], off, length)
		}
	}
	if strings.HasPrefix(url, "file://") {
		// A file URL written by another data dir (moved, copied, or
		// another machine's): blobs are content-addressed, so the local
		// directory store's copy under the same key is the same blob.
		return r.readLocalKey(ctx, url, off, length)
	}
	if r.fallback == nil {
		return nil, fmt.Errorf("no reader for location %q: %w", url, ErrNotFound)
	}
	return r.fallback.ReadURL(ctx, url, off, length)
}

// readLocalKey reads the blob named by the last two elements of a file URL
// (<mh>/<mh>.blob) from the first directory store.
func (r *Router) readLocalKey(ctx context.Context, url string, off, length int64) (io.ReadCloser, error) {
	parts := strings.Split(url, "/")
	if len(parts) < 2 {
		return nil, fmt.Errorf("location %q: %w", url, ErrNotFound)
	}
	key := parts[len(parts)-2] + "/" + parts[len(parts)-1]
	for _, s := range r.stores {
		if strings.HasPrefix(s.URL(""), "file://") {
			return s.ReadRange(ctx, key, off, length)
		}
	}
	return nil, fmt.Errorf("location %q: no local blob directory: %w", url, ErrNotFound)
}
