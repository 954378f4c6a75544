package importer

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/ipfs/go-cid"
	car "github.com/ipld/go-car"
	"github.com/ipld/go-car/util"
	"github.com/multiformats/go-multihash"
)

// shard is one CARv1 file being written, and where each block landed.
// go-car frames the header and sections (car.WriteHeader, util.LdWrite, as
// the gateway's CAR writer does); the shard counts and hashes the bytes as
// they pass to the file.
type shard struct {
	f      *os.File
	w      *bufio.Writer
	h      hash.Hash
	size   int64
	blocks []placed
	digest multihash.Multihash // set by close
}

// placed is a block's multihash and the range of its bytes in the shard.
type placed struct {
	hash   multihash.Multihash
	offset uint64
	length uint64
}

// shardWriter cuts a stream of blocks into CARv1 shards of at most max
// bytes (a block larger than that gets a shard of its own), in order.
type shardWriter struct {
	dir   string
	max   int64
	roots []cid.Cid
	cur   *shard
	done  []*shard
}

// newShardWriter needs a root: go-car would write a header without one
// as "roots": null, which CAR readers refuse.
func newShardWriter(dir string, max int64, roots []cid.Cid) (*shardWriter, error) {
	if len(roots) == 0 {
		return nil, fmt.Errorf("%w: a CAR needs at least one root", ErrBadInput)
	}
	return &shardWriter{dir: dir, max: max, roots: roots}, nil
}

// add writes one block. Every block given is written, in order, identity
// and repeated ones included: the index lists each placement.
func (sw *shardWriter) add(c cid.Cid, data []byte) error {
	cb := c.Bytes()
	need := int64(util.LdSize(cb, data))
	if sw.cur != nil && sw.cur.size+need > sw.max && len(sw.cur.blocks) > 0 {
		if err := sw.finish(); err != nil {
			return err
		}
	}
	if sw.cur == nil {
		if err := sw.open(); err != nil {
			return err
		}
	}
	s := sw.cur
	if err := util.LdWrite(s, cb, data); err != nil {
		return err
	}
	s.blocks = append(s.blocks, placed{hash: c.Hash(), offset: uint64(s.size) - uint64(len(data)), length: uint64(len(data))})
	return nil
}

func (sw *shardWriter) open() error {
	f, err := os.CreateTemp(sw.dir, tempPattern("shard", ".car"))
	if err != nil {
		return err
	}
	s := &shard{f: f, w: bufio.NewWriterSize(f, 1<<20), h: sha256.New()}
	sw.cur = s
	return car.WriteHeader(&car.CarHeader{Roots: sw.roots, Version: 1}, s)
}

// Write passes the CAR writer's bytes to the file, counting and hashing.
func (s *shard) Write(b []byte) (int, error) {
	n, err := s.w.Write(b)
	s.h.Write(b[:n])
	s.size += int64(n)
	return n, err
}

func (sw *shardWriter) finish() error {
	s := sw.cur
	sw.cur = nil
	if err := s.w.Flush(); err != nil {
		return err
	}
	d, err := multihash.Encode(s.h.Sum(nil), multihash.SHA2_256)
	if err != nil {
		return err
	}
	s.digest = d
	sw.done = append(sw.done, s)
	return nil
}

// close finishes the last shard and returns all of them.
func (sw *shardWriter) close() ([]*shard, error) {
	if sw.cur != nil {
		if err := sw.finish(); err != nil {
			return nil, err
		}
	}
	return sw.done, nil
}

// cleanup removes the shards' temporary files.
func (sw *shardWriter) cleanup() {
	for _, s := range append(sw.done, sw.cur) {
		if s != nil {
			s.f.Close()
			os.Remove(s.f.Name())
		}
	}
}

// reader returns the shard's bytes from the start.
func (s *shard) reader() (io.Reader, error) {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return bufio.NewReaderSize(s.f, 1<<20), nil
}
