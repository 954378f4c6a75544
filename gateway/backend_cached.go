package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/files"
	boxogw "github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/path"
	"github.com/ipfs/boxo/path/resolver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/cache"
)

// cachedBackend decorates boxo's blocks backend with a cache of path
// resolutions. boxo resolves every prefix of a path on every request,
// decoding each directory node again (for a request into a large directory
// that decoding is most of the CPU). Content under a CID never changes, so
// a resolution, or a definite "no such link", holds for as long as memory
// allows. Requests then go to boxo for the resolved CID alone, and the
// metadata of the full path is put back in the answer.
type cachedBackend struct {
	*boxogw.BlocksBackend
	paths *cache.Local[resolution]
	dirs  *dirResolver
}

var _ boxogw.IPFSBackend = (*cachedBackend)(nil)

type resolution struct {
	md  boxogw.ContentPathMetadata
	err error // a *resolver.ErrNoLink, which is permanent
}

// DefaultPathCacheBytes bounds the path resolution cache.
const DefaultPathCacheBytes = 64 << 20

func newCachedBackend(b *boxogw.BlocksBackend, bs blockstore.Blockstore, maxBytes int64, reg prometheus.Registerer) (*cachedBackend, error) {
	paths, err := cache.NewLocal[resolution]("gateway_paths", maxBytes, reg)
	if err != nil {
		return nil, err
	}
	dirs, err := newDirResolver(bs, DefaultDirCacheBytes, reg)
	if err != nil {
		return nil, err
	}
	return &cachedBackend{BlocksBackend: b, paths: paths, dirs: dirs}, nil
}

// resolveUncached resolves p through cached plain directories when it can,
// else with boxo.
func (b *cachedBackend) resolveUncached(ctx context.Context, p path.ImmutablePath) (boxogw.ContentPathMetadata, error) {
	md, ok, err := b.dirs.resolve(ctx, p)
	if ok {
		return md, err
	}
	return b.BlocksBackend.ResolvePath(ctx, p)
}

// ResolvePath implements boxogw.IPFSBackend, from the cache when it can.
func (b *cachedBackend) ResolvePath(ctx context.Context, p path.ImmutablePath) (boxogw.ContentPathMetadata, error) {
	key := p.String()
	res, err := b.paths.GetOrLoad(ctx, key, func(ctx context.Context) (resolution, int64, time.Duration, error) {
		md, err := b.resolveUncached(ctx, p)
		if noLink := (*resolver.ErrNoLink)(nil); errors.As(err, &noLink) {
			return resolution{err: err}, int64(len(key)) + 64, 0, nil
		}
		if err != nil {
			return resolution{}, 0, 0, err
		}
		return resolution{md: md}, int64(len(key)) + 64*int64(len(md.PathSegmentRoots)+1), 0, nil
	})
	if err != nil {
		return boxogw.ContentPathMetadata{}, mapContentError(err)
	}
	return res.md, res.err
}

// terminal resolves p and returns the path of its last CID alone, or
// ok=false when the path goes on inside a non-UnixFS node (boxo handles
// those itself).
func (b *cachedBackend) terminal(ctx context.Context, p path.ImmutablePath) (boxogw.ContentPathMetadata, path.ImmutablePath, bool, error) {
	if len(p.Segments()) <= 2 {
		return boxogw.ContentPathMetadata{}, p, false, nil // a bare CID: nothing to resolve
	}
	md, err := b.ResolvePath(ctx, p)
	if err != nil {
		return md, p, false, err
	}
	if len(md.LastSegmentRemainder) > 0 {
		return md, p, false, nil
	}
	return md, path.FromCid(md.LastSegment.RootCid()), true, nil
}

// merge keeps the full path's metadata, with what only the content knows.
func merge(full, got boxogw.ContentPathMetadata) boxogw.ContentPathMetadata {
	full.ContentType, full.ModTime = got.ContentType, got.ModTime
	return full
}

// Get implements boxogw.IPFSBackend.
func (b *cachedBackend) Get(ctx context.Context, p path.ImmutablePath, ranges ...boxogw.ByteRange) (boxogw.ContentPathMetadata, *boxogw.GetResponse, error) {
	md, t, ok, err := b.terminal(ctx, p)
	if err != nil {
		return md, nil, err
	}
	if len(ranges) == 0 {
		if fmd, resp, whole := b.wholeFile(ctx, p, md, ok); whole {
			return fmd, resp, nil
		}
	}
	if !ok {
		md, resp, err := b.BlocksBackend.Get(ctx, p, ranges...)
		return md, resp, mapContentError(err)
	}
	got, resp, err := b.BlocksBackend.Get(ctx, t, ranges...)
	return merge(md, got), resp, mapContentError(err)
}

// Head implements boxogw.IPFSBackend.
func (b *cachedBackend) Head(ctx context.Context, p path.ImmutablePath) (boxogw.ContentPathMetadata, *boxogw.HeadResponse, error) {
	md, t, ok, err := b.terminal(ctx, p)
	if err != nil {
		return md, nil, err
	}
	if !ok {
		md, resp, err := b.BlocksBackend.Head(ctx, p)
		return md, resp, mapContentError(err)
	}
	got, resp, err := b.BlocksBackend.Head(ctx, t)
	return merge(md, got), resp, mapContentError(err)
}

// GetBlock implements boxogw.IPFSBackend.
func (b *cachedBackend) GetBlock(ctx context.Context, p path.ImmutablePath) (boxogw.ContentPathMetadata, files.File, error) {
	md, t, ok, err := b.terminal(ctx, p)
	if err != nil {
		return md, nil, err
	}
	if !ok {
		md, f, err := b.BlocksBackend.GetBlock(ctx, p)
		return md, f, mapContentError(err)
	}
	got, f, err := b.BlocksBackend.GetBlock(ctx, t)
	return merge(md, got), f, mapContentError(err)
}
