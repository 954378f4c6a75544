package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/ipfs/boxo/blockstore"
	boxogw "github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/boxo/path"
	"github.com/ipfs/boxo/path/resolver"
	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/cache"
)

// dirResolver resolves paths through plain (non-HAMT) UnixFS directories
// with each directory decoded once: its entries stay in memory as a map.
// boxo decodes the whole directory node for every path it resolves, which
// dominates the cost of serving many files of one large directory. A
// path through anything else (a HAMT, a non-dag-pb node) is left to boxo.
type dirResolver struct {
	blocks blockstore.Blockstore
	dirs   *cache.Local[*directory]
}

// directory is a decoded plain UnixFS directory (nil entries: not one).
type directory struct {
	entries map[string]cid.Cid
}

// DefaultDirCacheBytes bounds the decoded directory cache.
const DefaultDirCacheBytes = 64 << 20

func newDirResolver(bs blockstore.Blockstore, maxBytes int64, reg prometheus.Registerer) (*dirResolver, error) {
	dirs, err := cache.NewLocal[*directory]("gateway_dirs", maxBytes, reg)
	if err != nil {
		return nil, err
	}
	return &dirResolver{blocks: bs, dirs: dirs}, nil
}

// resolve returns what boxo's ResolvePath would for p, or ok=false when p
// goes through something other than plain UnixFS directories.
func (d *dirResolver) resolve(ctx context.Context, p path.ImmutablePath) (boxogw.ContentPathMetadata, bool, error) {
	names := p.Segments()[2:]
	cur := p.RootCid()
	roots := make([]cid.Cid, 0, len(names)+1)
	for _, name := range names {
		roots = append(roots, cur)
		dir, err := d.directory(ctx, cur)
		if err != nil {
			return boxogw.ContentPathMetadata{}, false, err
		}
		if dir.entries == nil {
			return boxogw.ContentPathMetadata{}, false, nil
		}
		next, found := dir.entries[name]
		if !found {
			return boxogw.ContentPathMetadata{}, true, &resolver.ErrNoLink{Name: name, Node: cur}
		}
		cur = next
	}
	return boxogw.ContentPathMetadata{PathSegmentRoots: roots, LastSegment: path.FromCid(cur)}, true, nil
}

// directory returns the decoded directory at c (entries nil when c is not
// a plain UnixFS directory).
func (d *dirResolver) directory(ctx context.Context, c cid.Cid) (*directory, error) {
	return d.dirs.GetOrLoad(ctx, c.KeyString(), func(ctx context.Context) (*directory, int64, time.Duration, error) {
		if c.Type() != cid.DagProtobuf {
			return &directory{}, 64, 0, nil
		}
		blk, err := d.blocks.Get(ctx, c)
		if err != nil {
			return nil, 0, 0, err
		}
		nd, err := merkledag.DecodeProtobuf(blk.RawData())
		if err != nil {
			return nil, 0, 0, fmt.Errorf("decode %s: %w", c, err)
		}
		fs, err := unixfs.FSNodeFromBytes(nd.Data())
		if err != nil || fs.Type() != unixfs.TDirectory {
			return &directory{}, 64, 0, nil
		}
		entries := make(map[string]cid.Cid, len(nd.Links()))
		for _, l := range nd.Links() {
			if _, dup := entries[l.Name]; !dup { // the first of duplicate names wins, as in boxo
				entries[l.Name] = l.Cid
			}
		}
		return &directory{entries: entries}, int64(96 * (len(entries) + 1)), 0, nil
	})
}
