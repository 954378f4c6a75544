package importer

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/merkledag"
	ft "github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	format "github.com/ipfs/go-ipld-format"
	"github.com/multiformats/go-multihash"
)

// ChunkSize is the UnixFS chunk size for imported files: 1 MiB.
const ChunkSize = 1 << 20

var cidBuilder = cid.V1Builder{Codec: cid.DagProtobuf, MhType: multihash.SHA2_256}

// ImportPath imports a file or a directory tree as UnixFS (CIDv1, raw
// leaves, 1 MiB chunks, HAMT-sharded directories past boxo's threshold)
// and returns its root. Blocks go into shards in depth-first order.
func (im *Importer) ImportPath(ctx context.Context, path string) (cid.Cid, error) {
	st, err := newStaging(im.tempDir())
	if err != nil {
		return cid.Undef, err
	}
	defer st.close()
	root, err := im.addPath(ctx, st, path)
	if err != nil {
		return cid.Undef, err
	}
	sw, err := newShardWriter(im.cfg.TempDir, im.cfg.ShardSize, []cid.Cid{root.Cid()})
	if err != nil {
		return cid.Undef, err
	}
	defer sw.cleanup()
	seen := map[cid.Cid]bool{}
	if err := st.walk(ctx, root.Cid(), seen, sw.add); err != nil {
		return cid.Undef, err
	}
	if err := im.commit(ctx, sw, []cid.Cid{root.Cid()}); err != nil {
		return cid.Undef, err
	}
	return root.Cid(), nil
}

func (im *Importer) addPath(ctx context.Context, st *staging, path string) (format.Node, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(path)
		if err != nil {
			return nil, err
		}
		data, err := ft.SymlinkData(target)
		if err != nil {
			return nil, err
		}
		nd := merkledag.NodeWithData(data)
		if err := nd.SetCidBuilder(cidBuilder); err != nil {
			return nil, err
		}
		return nd, st.Add(ctx, nd)
	case fi.IsDir():
		return im.addDir(ctx, st, path)
	case fi.Mode().IsRegular():
		return im.addFile(ctx, st, path)
	}
	return nil, fmt.Errorf("%w: %s is not a file, directory or symlink", ErrBadInput, path)
}

func (im *Importer) addFile(ctx context.Context, st *staging, path string) (format.Node, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	params := helpers.DagBuilderParams{
		Maxlinks:   helpers.DefaultLinksPerBlock,
		RawLeaves:  true,
		CidBuilder: cidBuilder,
		Dagserv:    st,
	}
	db, err := params.New(chunker.NewSizeSplitter(&progressReader{r: f, im: im}, ChunkSize))
	if err != nil {
		return nil, err
	}
	return balanced.Layout(db)
}

type progressReader struct {
	r  io.Reader
	im *Importer
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if p.im.Progress != nil && n > 0 {
		p.im.Progress(n)
	}
	return n, err
}

func (im *Importer) addDir(ctx context.Context, st *staging, path string) (format.Node, error) {
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	dir, err := uio.NewDirectory(st, uio.WithCidBuilder(cidBuilder))
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		child, err := im.addPath(ctx, st, filepath.Join(path, e.Name()))
		if err != nil {
			return nil, err
		}
		if err := dir.AddChild(ctx, e.Name(), child); err != nil {
			return nil, err
		}
	}
	nd, err := dir.GetNode()
	if err != nil {
		return nil, err
	}
	return nd, st.Add(ctx, nd)
}
