package datagen

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"

	chunker "github.com/ipfs/boxo/chunker"
	dag "github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	cid "github.com/ipfs/go-cid"
	cbornode "github.com/ipfs/go-ipld-cbor"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"
)

type generator struct {
	dir   string
	seed  int64
	sizes Sizes
}

// withSpool runs build against a fresh spool, then writes the CAR of the
// root build returns.
func (g *generator) withSpool(name string, build func(*spool) (cid.Cid, error)) (string, cid.Cid, *spool, error) {
	sp, err := newSpool(filepath.Join(g.dir, name+".spool"))
	if err != nil {
		return "", cid.Undef, nil, err
	}
	root, err := build(sp)
	if err != nil {
		_ = sp.close()
		return "", cid.Undef, nil, fmt.Errorf("datagen %s: %w", name, err)
	}
	car := filepath.Join(g.dir, name+".car")
	if _, err := sp.writeCAR(car, root); err != nil {
		_ = sp.close()
		return "", cid.Undef, nil, fmt.Errorf("datagen %s: writing CAR: %w", name, err)
	}
	return car, root, sp, nil
}

// importReader chunks r into a balanced UnixFS file DAG with raw leaves and
// CIDv1, the layout `ipfs add --cid-version=1` produces.
func importReader(ds ipld.DAGService, r io.Reader, chunk int) (ipld.Node, error) {
	params := helpers.DagBuilderParams{
		Maxlinks:   helpers.DefaultLinksPerBlock,
		RawLeaves:  true,
		CidBuilder: dag.V1CidPrefix(),
		Dagserv:    ds,
	}
	db, err := params.New(chunker.NewSizeSplitter(r, int64(chunk)))
	if err != nil {
		return nil, err
	}
	return balanced.Layout(db)
}

func randomBytes(r *rand.ChaCha8, n int) []byte {
	b := make([]byte, n)
	_, _ = r.Read(b) // ChaCha8.Read never fails
	return b
}

func (g *generator) smallDir(ctx context.Context, set *Set) error {
	return g.directory(ctx, "smalldir", "file-%05d.bin", g.sizes.SmallFiles, g.sizes.SmallFileSize, false, &set.SmallDir)
}

func (g *generator) hamt(ctx context.Context, set *Set) error {
	return g.directory(ctx, "hamt", "entry-%05d.txt", g.sizes.HAMTEntries, g.sizes.HAMTFileSize, true, &set.HAMT)
}

// directory builds a flat UnixFS directory of n random files of size bytes,
// sharded as a HAMT when sharded is set.
func (g *generator) directory(ctx context.Context, name, pattern string, n, size int, sharded bool, out *Dir) error {
	r := rng(g.seed, name)
	car, root, sp, err := g.withSpool(name, func(sp *spool) (cid.Cid, error) {
		var dir uio.Directory
		var err error
		if sharded {
			dir, err = uio.NewHAMTDirectory(sp, 0, uio.WithCidBuilder(dag.V1CidPrefix()))
		} else {
			dir, err = uio.NewBasicDirectory(sp, uio.WithCidBuilder(dag.V1CidPrefix()))
		}
		if err != nil {
			return cid.Undef, err
		}
		for i := range n {
			nd, err := importReader(sp, &sliceReader{b: randomBytes(r, size)}, 1<<20)
			if err != nil {
				return cid.Undef, err
			}
			entry := fmt.Sprintf(pattern, i)
			if err := dir.AddChild(ctx, entry, nd); err != nil {
				return cid.Undef, err
			}
			out.Names = append(out.Names, entry)
			out.CIDs = append(out.CIDs, nd.Cid().String())
		}
		nd, err := dir.GetNode()
		if err != nil {
			return cid.Undef, err
		}
		return nd.Cid(), sp.Add(ctx, nd)
	})
	if err != nil {
		return err
	}
	out.CAR, out.Root = car, root.String()
	return sp.close()
}

func (g *generator) bigFile(_ context.Context, set *Set) error {
	return g.file("bigfile", g.sizes.BigFileSize, &set.BigFile)
}

func (g *generator) importFile(_ context.Context, set *Set) error {
	return g.file("import", g.sizes.ImportSize, &set.Import)
}

// file builds one UnixFS file of size random bytes.
func (g *generator) file(name string, size int64, out *File) error {
	src := io.LimitReader(rng(g.seed, name), size)
	car, root, sp, err := g.withSpool(name, func(sp *spool) (cid.Cid, error) {
		nd, err := importReader(sp, src, g.sizes.ChunkSize)
		if err != nil {
			return cid.Undef, err
		}
		return nd.Cid(), nil
	})
	if err != nil {
		return err
	}
	out.CAR, out.Root, out.Size = car, root.String(), size
	out.Leaves = sp.leaves(root)
	return sp.close()
}

// leaves lists the raw blocks under root in pre-order (file order).
func (s *spool) leaves(root cid.Cid) []string {
	var out []string
	var walk func(c cid.Cid)
	walk = func(c cid.Cid) {
		if c.Type() == cid.Raw {
			out = append(out, c.String())
			return
		}
		for _, l := range s.idx[c].links {
			walk(l)
		}
	}
	walk(root)
	return out
}

// cbor builds a complete tree of dag-cbor nodes: each node carries its
// index, some random bytes and the links to its children.
func (g *generator) cbor(_ context.Context, set *Set) error {
	r := rng(g.seed, "cbor")
	count := 0
	var build func(sp *spool, depth int) (*cbornode.Node, error)
	build = func(sp *spool, depth int) (*cbornode.Node, error) {
		obj := map[string]any{"i": count, "pad": randomBytes(r, 96)}
		count++
		if depth < g.sizes.CBORDepth {
			var kids []cid.Cid
			for range g.sizes.CBORFanout {
				kid, err := build(sp, depth+1)
				if err != nil {
					return nil, err
				}
				kids = append(kids, kid.Cid())
			}
			obj["children"] = kids
		}
		nd, err := cbornode.WrapObject(obj, mh.SHA2_256, -1)
		if err != nil {
			return nil, err
		}
		return nd, sp.Add(context.Background(), nd)
	}
	car, root, sp, err := g.withSpool("cbor", func(sp *spool) (cid.Cid, error) {
		nd, err := build(sp, 0)
		if err != nil {
			return cid.Undef, err
		}
		return nd.Cid(), nil
	})
	if err != nil {
		return err
	}
	set.CBOR = DAG{CAR: car, Root: root.String(), Nodes: count}
	for _, c := range sp.idx[root].links {
		set.CBOR.Inner = append(set.CBOR.Inner, c.String())
	}
	return sp.close()
}

// unknown makes CIDs of random bytes: valid, but in no data set.
func (g *generator) unknown(_ context.Context, set *Set) error {
	r := rng(g.seed, "unknown")
	pref := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: -1}
	for range g.sizes.Unknown {
		c, err := pref.Sum(randomBytes(r, 32))
		if err != nil {
			return err
		}
		set.Unknown = append(set.Unknown, c.String())
	}
	return nil
}

// sliceReader is a bytes.Reader without the seek methods, so the chunker
// treats it as the stream it would get from a file.
type sliceReader struct{ b []byte }

func (s *sliceReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}
