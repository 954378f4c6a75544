package gateway

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	boxogw "github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/boxo/path"
	"github.com/ipfs/go-cid"
	car "github.com/ipld/go-car"
	"github.com/ipld/go-car/util"
	"github.com/multiformats/go-multihash"
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
		return b.boxoCAR(ctx, p, params)
	}
	_, plain, err := b.dirs.resolve(ctx, p)
	if err != nil || !plain {
		return b.boxoCAR(ctx, p, params) // boxo shapes its own errors
	}
	md, err := b.ResolvePath(ctx, p)
	if err != nil || len(md.LastSegmentRemainder) > 0 {
		return b.boxoCAR(ctx, p, params)
	}
	file := md.LastSegment.RootCid()
	if ok, err := b.isFile(ctx, file); err != nil || !ok {
		return b.boxoCAR(ctx, p, params)
	}
	return md, &carStream{write: func(w io.Writer) error {
		return b.writeFileCAR(ctx, w, md.PathSegmentRoots, file)
	}}, nil
}

// boxoCAR is boxo's CAR, read ahead through its first block. boxo sends
// a block before it decodes it, so a root it then fails on (a block the
// IPLD decoders refuse, a read that times out) used to cut the response
// after its first bytes; read ahead, the failure comes before any byte is
// sent, and the stream guard answers it with a status instead.
func (b *cachedBackend) boxoCAR(ctx context.Context, p path.ImmutablePath, params boxogw.CarParams) (boxogw.ContentPathMetadata, io.ReadCloser, error) {
	md, rc, err := b.BlocksBackend.GetCAR(ctx, p, params)
	if err != nil {
		return md, rc, mapContentError(err)
	}
	return md, &readAheadCAR{ctx: ctx, rc: rc}, nil
}

// maxCARReadAhead bounds what readAheadCAR holds: a header and a block of
// the largest size cargate imports, with room to spare.
const maxCARReadAhead = 9 << 20

// readAheadCAR holds back the start of a CAR (its header section, its
// first block section and one byte more, or the error that comes instead)
// before handing out any byte.
type readAheadCAR struct {
	ctx    context.Context
	rc     io.ReadCloser
	primed bool
	buf    []byte
	err    error
}

func (r *readAheadCAR) Read(p []byte) (int, error) {
	if !r.primed {
		r.primed = true
		r.buf, r.err = readSections(r.rc, 2, maxCARReadAhead)
		if r.err != nil && r.err != io.EOF {
			streamRefused(r.ctx, r.err)
			r.buf = nil
		}
	}
	if len(r.buf) > 0 {
		n := copy(p, r.buf)
		r.buf = r.buf[n:]
		return n, nil
	}
	if r.err != nil {
		return 0, r.err
	}
	return r.rc.Read(p)
}

func (r *readAheadCAR) Close() error { return r.rc.Close() }

// readSections reads from r until it holds n complete varint-framed
// sections and at least one byte after them, an error, or limit bytes.
func readSections(r io.Reader, n, limit int) ([]byte, error) {
	buf := make([]byte, 0, 32<<10)
	for {
		if end := framedEnd(buf, n); (end >= 0 && len(buf) > end) || len(buf) >= limit {
			return buf, nil
		}
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*cap(buf), limit))
			copy(grown, buf)
			buf = grown
		}
		k, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err != nil {
			return buf, err
		}
	}
}

// framedEnd is the offset just past the first n varint-framed sections of
// b, or -1 when b does not hold them all yet.
func framedEnd(b []byte, n int) int {
	at := 0
	for range n {
		size, k := binary.Uvarint(b[at:])
		if k <= 0 || size > uint64(len(b)-at-k) {
			return -1
		}
		at += k + int(size)
	}
	return at
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
// DAG depth-first, in link order. go-car frames the header and sections
// (car.WriteHeader, util.LdWrite: the code go-car/v2's writers run); as
// in boxo's CARs, each multihash is written once and identity blocks are
// left out. go-car/v2's storage writer would do the same but keeps an
// in-memory index of every block, which made a CAR of 1 KiB leaves 2-4
// times slower to write (BenchmarkFileCAR). Writes go straight to w
// through a buffer; nothing holds the whole CAR.
func (b *cachedBackend) writeFileCAR(ctx context.Context, w io.Writer, pathRoots []cid.Cid, file cid.Cid) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	if err := car.WriteHeader(&car.CarHeader{Roots: []cid.Cid{file}, Version: 1}, bw); err != nil {
		return err
	}
	seen := map[string]struct{}{}
	put := func(c cid.Cid) ([]byte, error) {
		blk, err := b.dirs.blocks.Get(ctx, c)
		if err != nil {
			return nil, err
		}
		data := blk.RawData()
		mh := c.Hash()
		if _, dup := seen[string(mh)]; dup || c.Prefix().MhType == multihash.IDENTITY {
			return data, nil
		}
		seen[string(mh)] = struct{}{}
		return data, util.LdWrite(bw, c.Bytes(), data)
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
