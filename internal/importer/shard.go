package importer

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"io"
	"os"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// shard is one CARv1 file being written, and where each block landed.
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
	dir    string
	max    int64
	roots  []cid.Cid
	header []byte
	cur    *shard
	done   []*shard
}

func newShardWriter(dir string, max int64, roots []cid.Cid) (*shardWriter, error) {
	hdr, err := carHeader(roots)
	if err != nil {
		return nil, err
	}
	return &shardWriter{dir: dir, max: max, roots: roots, header: hdr}, nil
}

// carHeader encodes a CARv1 header: a varint length, then the dag-cbor
// map {"roots": [CIDs], "version": 1} in canonical key order.
func carHeader(roots []cid.Cid) ([]byte, error) {
	body := []byte{0xa2}
	body = cborText(body, "roots")
	body = cborHead(body, 4, uint64(len(roots)))
	for _, r := range roots {
		body = append(body, 0xd8, 42) // tag 42: CID
		cb := append([]byte{0}, r.Bytes()...)
		body = cborHead(body, 2, uint64(len(cb)))
		body = append(body, cb...)
	}
	body = cborText(body, "version")
	body = append(body, 0x01)
	return append(binary.AppendUvarint(nil, uint64(len(body))), body...), nil
}

func cborText(b []byte, s string) []byte { return append(cborHead(b, 3, uint64(len(s))), s...) }

// cborHead appends a CBOR major type and argument in its shortest form.
func cborHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= 0xff:
		return append(b, m|24, byte(n))
	case n <= 0xffff:
		return append(b, m|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(b, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func (sw *shardWriter) add(c cid.Cid, data []byte) error {
	cb := c.Bytes()
	section := int64(len(cb) + len(data))
	need := int64(binary.PutUvarint(make([]byte, 10), uint64(section))) + section
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
	var lenbuf [10]byte
	n := binary.PutUvarint(lenbuf[:], uint64(section))
	if err := s.write(lenbuf[:n]); err != nil {
		return err
	}
	if err := s.write(cb); err != nil {
		return err
	}
	s.blocks = append(s.blocks, placed{hash: c.Hash(), offset: uint64(s.size), length: uint64(len(data))})
	return s.write(data)
}

func (sw *shardWriter) open() error {
	f, err := os.CreateTemp(sw.dir, tempPattern("shard", ".car"))
	if err != nil {
		return err
	}
	s := &shard{f: f, w: bufio.NewWriterSize(f, 1<<20), h: sha256.New()}
	sw.cur = s
	return s.write(sw.header)
}

func (s *shard) write(b []byte) error {
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	s.h.Write(b)
	s.size += int64(len(b))
	return nil
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
