package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sync"

	boxogw "github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/boxo/path"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"
)

// GetCAR implements boxogw.IPFSBackend. The most common trustless request,
// a whole UnixFS file (dag-scope=all, no entity-bytes, no duplicates) on a
// path through plain directories, is written here: boxo's traversal
// re-hashes every block the resolver has already verified and copies each
// one twice more, which halves streaming speed. The output is the same
// CARv1, byte for byte: the path's blocks, then the file's DAG depth-first
// in link order, each block once. Anything else is boxo's.
func (b *cachedBackend) GetCAR(ctx context.Context, p path.ImmutablePath, params boxogw.CarParams) (boxogw.ContentPathMetadata, io.ReadCloser, error) {
	if params.Range != nil || (params.Scope != boxogw.DagScopeAll && params.Scope != "") ||
		params.Duplicates == boxogw.DuplicateBlocksIncluded {
		return b.BlocksBackend.GetCAR(ctx, p, params)
	}
	_, plain, err := b.dirs.resolve(ctx, p)
	if err != nil || !plain {
		return b.BlocksBackend.GetCAR(ctx, p, params) // boxo shapes its own errors
	}
	md, err := b.ResolvePath(ctx, p)
	if err != nil || len(md.LastSegmentRemainder) > 0 {
		return b.BlocksBackend.GetCAR(ctx, p, params)
	}
	file := md.LastSegment.RootCid()
	if ok, err := b.isFile(ctx, file); err != nil || !ok {
		return b.BlocksBackend.GetCAR(ctx, p, params)
	}
	return md, &carStream{write: func(w io.Writer) error {
		return b.writeFileCAR(ctx, w, md.PathSegmentRoots, file)
	}}, nil
}

// carStream is a CAR written on demand. io.Copy uses WriteTo, so blocks go
// to the response writer directly, in large writes; Read (through a pipe)
// serves any other reader.
type carStream struct {
	write func(io.Writer) error
	once  sync.Once
	pr    *io.PipeReader
}

func (s *carStream) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriterTo{w: w}
	err := s.write(cw)
	return cw.n, err
}

func (s *carStream) Read(p []byte) (int, error) {
	s.once.Do(func() {
		pr, pw := io.Pipe()
		s.pr = pr
		go func() { pw.CloseWithError(s.write(pw)) }()
	})
	return s.pr.Read(p)
}

func (s *carStream) Close() error {
	if s.pr != nil {
		return s.pr.Close()
	}
	return nil
}

type countingWriterTo struct {
	w io.Writer
	n int64
}

func (c *countingWriterTo) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// isFile reports whether c is a raw block or a UnixFS file (or raw) node.
func (b *cachedBackend) isFile(ctx context.Context, c cid.Cid) (bool, error) {
	switch c.Type() {
	case cid.Raw:
		return true, nil
	case cid.DagProtobuf:
	default:
		return false, nil
	}
	blk, err := b.dirs.blocks.Get(ctx, c)
	if err != nil {
		return false, err
	}
	nd, err := merkledag.DecodeProtobuf(blk.RawData())
	if err != nil {
		return false, nil
	}
	fs, err := unixfs.FSNodeFromBytes(nd.Data())
	if err != nil {
		return false, nil
	}
	return fs.Type() == unixfs.TFile || fs.Type() == unixfs.TRaw, nil
}

// writeFileCAR writes a CARv1 rooted at file: the path blocks, then file's
// DAG depth-first, in link order. go-car/v2's streaming CARv1 writer
// frames the header and sections, and, as for boxo, writes each multihash
// once and leaves identity blocks out. Writes go straight to w through a
// buffer; nothing holds the whole CAR.
func (b *cachedBackend) writeFileCAR(ctx context.Context, w io.Writer, pathRoots []cid.Cid, file cid.Cid) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	car, err := storage.NewWritable(bw, []cid.Cid{file}, carv2.WriteAsCarV1(true))
	if err != nil {
		return err
	}
	put := func(c cid.Cid) ([]byte, error) {
		blk, err := b.dirs.blocks.Get(ctx, c)
		if err != nil {
			return nil, err
		}
		data := blk.RawData()
		return data, car.Put(ctx, c.KeyString(), data)
	}
	for _, c := range append(pathRoots, file) {
		if _, err := put(c); err != nil {
			return err
		}
	}
	stack := []cid.Cid{file}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		data, err := put(c)
		if err != nil {
			return err
		}
		if c.Type() != cid.DagProtobuf {
			continue
		}
		nd, err := merkledag.DecodeProtobuf(data)
		if err != nil {
			return fmt.Errorf("decode %s: %w", c, err)
		}
		links := nd.Links()
		for i := len(links) - 1; i >= 0; i-- { // pushed in reverse: popped in link order
			stack = append(stack, links[i].Cid)
		}
	}
	return bw.Flush()
}
