package gateway

import (
	"context"
	"fmt"
	"io"

	boxogw "github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/boxo/path"
	"github.com/ipfs/go-cid"
)

// wholeFile answers a GET of a whole multi-block UnixFS file (no range, no
// mtime) with fileReader instead of boxo's DAG reader, or returns ok=false
// to leave the request to boxo. boxo's reader keeps up to ten child blocks
// fetched ahead of the one being sent, per stream, on top of the
// resolver's read-ahead (which is bounded for all streams together); with
// 1 MiB leaves and eight streams that was most of the heap. The bytes are
// the same: the file's data in DAG order, Content-Length from the root's
// declared size. md is p's resolution when resolved (terminal made it),
// else it is resolved here.
func (b *cachedBackend) wholeFile(ctx context.Context, p path.ImmutablePath, md boxogw.ContentPathMetadata, resolved bool) (boxogw.ContentPathMetadata, *boxogw.GetResponse, bool) {
	if !resolved {
		var err error
		if md, err = b.ResolvePath(ctx, p); err != nil {
			return md, nil, false
		}
	}
	if len(md.LastSegmentRemainder) > 0 {
		return md, nil, false
	}
	root := md.LastSegment.RootCid()
	if root.Type() != cid.DagProtobuf {
		return md, nil, false
	}
	blk, err := b.dirs.blocks.Get(ctx, root)
	if err != nil {
		return md, nil, false // boxo answers the failure in its own words
	}
	nd, err := merkledag.DecodeProtobuf(blk.RawData())
	if err != nil {
		return md, nil, false
	}
	fs, err := unixfs.FSNodeFromBytes(nd.Data())
	if err != nil || fs.Type() != unixfs.TFile || len(nd.Links()) == 0 || !fs.ModTime().IsZero() {
		return md, nil, false
	}
	r := &fileReader{ctx: ctx, get: b.getBlock, cur: fs.Data(), left: int64(fs.FileSize())}
	r.push(nd)
	return md, boxogw.NewGetResponseFromReader(r, int64(fs.FileSize())), true
}

func (b *cachedBackend) getBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	blk, err := b.dirs.blocks.Get(ctx, c)
	if err != nil {
		return nil, err
	}
	return blk.RawData(), nil
}

// fileReader reads a UnixFS file's data depth-first, one block at a time:
// each node's own data, then its children's in link order. It fetches a
// block only when the previous one has been read; the resolver's
// read-ahead keeps storage reads ahead of it. Blocks come from the
// verified blockstore, so no byte is unverified.
type fileReader struct {
	ctx   context.Context
	get   func(context.Context, cid.Cid) ([]byte, error)
	stack [][]cid.Cid // links still to read, per level; the deepest last
	cur   []byte      // data of the current node not yet read
	left  int64       // bytes the root declares that are not read yet
	err   error
}

func (r *fileReader) push(nd *merkledag.ProtoNode) {
	links := nd.Links()
	cids := make([]cid.Cid, len(links))
	for i, l := range links {
		cids[i] = l.Cid
	}
	r.stack = append(r.stack, cids)
}

func (r *fileReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.err = r.next(); r.err != nil && r.err != io.EOF {
			// After the status, a clean end would pass a short file
			// for a whole one: the stream guard aborts the response.
			streamFailed(r.ctx, r.err)
		}
	}
	if int64(len(r.cur)) > r.left {
		// More data than the root declares: which size lies is not for
		// us to guess, and a body cut at Content-Length would end clean.
		r.err = fmt.Errorf("file holds more than its declared size: a block of %d bytes with %d left", len(r.cur), r.left)
		r.cur = nil
		streamFailed(r.ctx, r.err)
		return 0, r.err
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	r.left -= int64(n)
	return n, nil
}

// next moves to the next node with data; io.EOF when the DAG ends where
// the root said it would.
func (r *fileReader) next() error {
	for len(r.stack) > 0 {
		top := r.stack[len(r.stack)-1]
		if len(top) == 0 {
			r.stack = r.stack[:len(r.stack)-1]
			continue
		}
		c := top[0]
		r.stack[len(r.stack)-1] = top[1:]
		data, err := r.get(r.ctx, c)
		if err != nil {
			return err
		}
		switch c.Type() {
		case cid.Raw:
			r.cur = data
			return nil
		case cid.DagProtobuf:
		default:
			return fmt.Errorf("file child %s: unsupported codec %#x", c, c.Type())
		}
		nd, err := merkledag.DecodeProtobuf(data)
		if err != nil {
			return fmt.Errorf("file child %s: %w", c, err)
		}
		fs, err := unixfs.FSNodeFromBytes(nd.Data())
		if err != nil {
			return fmt.Errorf("file child %s: %w", c, err)
		}
		if t := fs.Type(); t != unixfs.TFile && t != unixfs.TRaw {
			return fmt.Errorf("file child %s: unixfs type %s", c, t)
		}
		r.cur = fs.Data()
		if len(nd.Links()) > 0 {
			r.push(nd)
		}
		if len(r.cur) > 0 {
			return nil
		}
	}
	if r.left > 0 {
		return fmt.Errorf("file ends %d bytes short of its declared size: %w", r.left, io.ErrUnexpectedEOF)
	}
	return io.EOF
}

func (r *fileReader) Close() error { return nil }
