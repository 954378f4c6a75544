package datagen

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	dag "github.com/ipfs/boxo/ipld/merkledag"
	cbornode "github.com/ipfs/go-ipld-cbor"
)

// spool is a DAGService that appends every block it is given to a scratch
// file and remembers where each block is and which blocks it links to.
// Builders (the UnixFS importer, the HAMT) emit children before parents; the
// spool lets writeCAR re-emit the blocks in pre-order from the root without
// holding the data in memory.
type spool struct {
	f   *os.File
	w   *bufio.Writer
	off int64
	idx map[cid.Cid]blockRef
}

type blockRef struct {
	off   int64
	n     int
	links []cid.Cid
}

var _ ipld.DAGService = (*spool)(nil)

func newSpool(path string) (*spool, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &spool{f: f, w: bufio.NewWriterSize(f, 1<<20), idx: map[cid.Cid]blockRef{}}, nil
}

// close removes the scratch file.
func (s *spool) close() error {
	name := s.f.Name()
	err := s.f.Close()
	return errors.Join(err, os.Remove(name))
}

func (s *spool) Add(_ context.Context, nd ipld.Node) error {
	c := nd.Cid()
	if _, ok := s.idx[c]; ok {
		return nil
	}
	data := nd.RawData()
	if _, err := s.w.Write(data); err != nil {
		return err
	}
	ref := blockRef{off: s.off, n: len(data)}
	for _, l := range nd.Links() {
		ref.links = append(ref.links, l.Cid)
	}
	s.idx[c] = ref
	s.off += int64(len(data))
	return nil
}

func (s *spool) AddMany(ctx context.Context, nds []ipld.Node) error {
	for _, nd := range nds {
		if err := s.Add(ctx, nd); err != nil {
			return err
		}
	}
	return nil
}

func (s *spool) read(c cid.Cid) ([]byte, blockRef, error) {
	ref, ok := s.idx[c]
	if !ok {
		return nil, ref, ipld.ErrNotFound{Cid: c}
	}
	if err := s.w.Flush(); err != nil {
		return nil, ref, err
	}
	buf := make([]byte, ref.n)
	if _, err := s.f.ReadAt(buf, ref.off); err != nil {
		return nil, ref, err
	}
	return buf, ref, nil
}

func (s *spool) Get(_ context.Context, c cid.Cid) (ipld.Node, error) {
	data, _, err := s.read(c)
	if err != nil {
		return nil, err
	}
	blk, err := blocks.NewBlockWithCid(data, c)
	if err != nil {
		return nil, err
	}
	switch c.Type() {
	case cid.DagProtobuf:
		return dag.DecodeProtobufBlock(blk)
	case cid.Raw:
		return dag.DecodeRawBlock(blk)
	case cid.DagCBOR:
		return cbornode.DecodeBlock(blk)
	}
	return nil, fmt.Errorf("spool: codec %#x not supported", c.Type())
}

func (s *spool) GetMany(ctx context.Context, cs []cid.Cid) <-chan *ipld.NodeOption {
	out := make(chan *ipld.NodeOption, len(cs))
	for _, c := range cs {
		nd, err := s.Get(ctx, c)
		out <- &ipld.NodeOption{Node: nd, Err: err}
	}
	close(out)
	return out
}

func (s *spool) Remove(context.Context, cid.Cid) error       { return nil }
func (s *spool) RemoveMany(context.Context, []cid.Cid) error { return nil }

// writeCAR writes a CARv1 file at path holding every block reachable from
// root, each once, in depth-first pre-order with links followed in order.
// It returns the file's size.
func (s *spool) writeCAR(path string, root cid.Cid) (int64, error) {
	if err := s.w.Flush(); err != nil {
		return 0, err
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	cw := &countWriter{w: bufio.NewWriterSize(f, 1<<20)}
	err = writeCARHeader(cw, root)
	seen := map[cid.Cid]bool{}
	stack := []cid.Cid{root}
	for err == nil && len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[c] {
			continue
		}
		seen[c] = true
		var data []byte
		var ref blockRef
		data, ref, err = s.read(c)
		if err != nil {
			break
		}
		err = writeCARBlock(cw, c, data)
		for i := len(ref.links) - 1; i >= 0; i-- {
			stack = append(stack, ref.links[i])
		}
	}
	if err == nil {
		err = cw.w.(*bufio.Writer).Flush()
	}
	err = errors.Join(err, f.Close())
	return cw.n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeCARHeader writes the CARv1 header {roots: [root], version: 1} as
// length-prefixed dag-cbor. Map keys are in dag-cbor canonical order
// (shorter first), so the bytes are the ones any CAR library would write.
func writeCARHeader(w io.Writer, root cid.Cid) error {
	rb := root.Bytes()
	var h []byte
	h = append(h, 0xa2)                          // map(2)
	h = append(h, 0x65, 'r', 'o', 'o', 't', 's') // "roots"
	h = append(h, 0x81)                          // array(1)
	h = append(h, 0xd8, 42)                      // tag(42): CID
	h = appendCBORBytesHead(h, len(rb)+1)
	h = append(h, 0x00) // multibase identity prefix
	h = append(h, rb...)
	h = append(h, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n') // "version"
	h = append(h, 0x01)
	return writeLenPrefixed(w, h)
}

func appendCBORBytesHead(b []byte, n int) []byte {
	switch {
	case n < 24:
		return append(b, 0x40|byte(n))
	case n < 256:
		return append(b, 0x58, byte(n))
	default:
		return append(b, 0x59, byte(n>>8), byte(n))
	}
}

func writeCARBlock(w io.Writer, c cid.Cid, data []byte) error {
	cb := c.Bytes()
	var lb [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(lb[:], uint64(len(cb)+len(data)))
	if _, err := w.Write(lb[:n]); err != nil {
		return err
	}
	if _, err := w.Write(cb); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

func writeLenPrefixed(w io.Writer, b []byte) error {
	var lb [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(lb[:], uint64(len(b)))
	if _, err := w.Write(lb[:n]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}
