package importer

import (
	"context"
	"fmt"
	"os"

	"github.com/ipfs/boxo/ipld/merkledag"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	format "github.com/ipfs/go-ipld-format"
)

// staging is a DAG service over a temporary file: the UnixFS importer
// writes nodes here, then walk reads them back in depth-first order. It
// keeps only offsets in memory, so large imports do not fill memory.
type staging struct {
	f    *os.File
	size int64
	at   map[cid.Cid][2]int64 // offset, length
}

var _ format.DAGService = (*staging)(nil)

func newStaging(dir string) (*staging, error) {
	f, err := os.CreateTemp(dir, tempPattern("staging", ""))
	if err != nil {
		return nil, err
	}
	return &staging{f: f, at: map[cid.Cid][2]int64{}}, nil
}

func (s *staging) close() {
	s.f.Close()
	os.Remove(s.f.Name())
}

func (s *staging) Add(ctx context.Context, nd format.Node) error {
	if err := ctx.Err(); err != nil {
		return err // stopped (SIGINT/SIGTERM): the caller removes the file
	}
	if _, ok := s.at[nd.Cid()]; ok {
		return nil
	}
	data := nd.RawData()
	if _, err := s.f.WriteAt(data, s.size); err != nil {
		return err
	}
	s.at[nd.Cid()] = [2]int64{s.size, int64(len(data))}
	s.size += int64(len(data))
	return nil
}

func (s *staging) AddMany(ctx context.Context, nds []format.Node) error {
	for _, nd := range nds {
		if err := s.Add(ctx, nd); err != nil {
			return err
		}
	}
	return nil
}

func (s *staging) raw(c cid.Cid) ([]byte, error) {
	pos, ok := s.at[c]
	if !ok {
		return nil, format.ErrNotFound{Cid: c}
	}
	b := make([]byte, pos[1])
	if _, err := s.f.ReadAt(b, pos[0]); err != nil {
		return nil, err
	}
	return b, nil
}

func (s *staging) Get(ctx context.Context, c cid.Cid) (format.Node, error) {
	b, err := s.raw(c)
	if err != nil {
		return nil, err
	}
	blk, err := blocks.NewBlockWithCid(b, c)
	if err != nil {
		return nil, err
	}
	switch c.Type() {
	case cid.DagProtobuf:
		return merkledag.DecodeProtobufBlock(blk)
	case cid.Raw:
		return merkledag.DecodeRawBlock(blk)
	}
	return nil, fmt.Errorf("staging: unexpected codec %d", c.Type())
}

func (s *staging) GetMany(ctx context.Context, cids []cid.Cid) <-chan *format.NodeOption {
	out := make(chan *format.NodeOption, len(cids))
	for _, c := range cids {
		nd, err := s.Get(ctx, c)
		out <- &format.NodeOption{Node: nd, Err: err}
	}
	close(out)
	return out
}

func (s *staging) Remove(ctx context.Context, c cid.Cid) error { return nil }

func (s *staging) RemoveMany(ctx context.Context, cids []cid.Cid) error { return nil }

// walk emits the DAG under c depth-first (node before its children, links
// in order), each block once.
func (s *staging) walk(ctx context.Context, c cid.Cid, seen map[cid.Cid]bool, emit func(cid.Cid, []byte) error) error {
	if seen[c] {
		return nil
	}
	seen[c] = true
	nd, err := s.Get(ctx, c)
	if err != nil {
		return err
	}
	if err := emit(c, nd.RawData()); err != nil {
		return err
	}
	for _, l := range nd.Links() {
		if err := s.walk(ctx, l.Cid, seen, emit); err != nil {
			return err
		}
	}
	return nil
}
