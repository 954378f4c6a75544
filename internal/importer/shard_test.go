package importer

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/multiformats/go-multihash"
)

// TestShardFraming writes blocks (a repeated one and an identity one
// among them) through the shard writer and reads each shard back: a
// CARv1 with the given roots holding every block given, in order, and
// each recorded (offset, length) addresses exactly that block's bytes.
func TestShardFraming(t *testing.T) {
	idMH, _ := multihash.Sum([]byte("inline"), multihash.IDENTITY, -1)
	idC := cid.NewCidV1(cid.Raw, idMH)
	var in []cid.Cid
	var data [][]byte
	for i := 0; i < 12; i++ {
		c, d := raw(string(bytes.Repeat([]byte{byte('a' + i)}, 100+40*i)))
		in, data = append(in, c), append(data, d)
	}
	in, data = append(in, in[3], idC), append(data, data[3], []byte("inline"))
	sw, err := newShardWriter(t.TempDir(), 1500, in[:1])
	if err != nil {
		t.Fatal(err)
	}
	defer sw.cleanup()
	for i := range in {
		if err := sw.add(in[i], data[i]); err != nil {
			t.Fatal(err)
		}
	}
	shards, err := sw.close()
	if err != nil {
		t.Fatal(err)
	}
	if len(shards) < 3 {
		t.Fatalf("%d shards for ~5 KiB of blocks at 1,500 bytes each", len(shards))
	}
	next := 0
	for _, s := range shards {
		r, err := s.reader()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != s.size {
			t.Fatalf("shard holds %d bytes, counted %d", len(b), s.size)
		}
		if sum, _ := multihash.Sum(b, multihash.SHA2_256, -1); !bytes.Equal(sum, s.digest) {
			t.Errorf("shard digest is not the hash of its bytes")
		}
		br, err := carv2.NewBlockReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if br.Version != 1 || len(br.Roots) != 1 || !br.Roots[0].Equals(in[0]) {
			t.Fatalf("shard header: version %d roots %v", br.Version, br.Roots)
		}
		for _, p := range s.blocks {
			blk, err := br.Next()
			if err != nil {
				t.Fatalf("block %d: %v", next, err)
			}
			if !blk.Cid().Equals(in[next]) || !bytes.Equal(p.hash, in[next].Hash()) {
				t.Fatalf("block %d is %s, want %s", next, blk.Cid(), in[next])
			}
			if p.offset+p.length > uint64(len(b)) || !bytes.Equal(b[p.offset:p.offset+p.length], data[next]) {
				t.Fatalf("block %d: range (%d, %d) does not hold its bytes", next, p.offset, p.length)
			}
			next++
		}
		if _, err := br.Next(); err != io.EOF {
			t.Errorf("shard holds more blocks than recorded: %v", err)
		}
	}
	if next != len(in) {
		t.Fatalf("%d blocks placed, %d given", next, len(in))
	}
}

// TestShardNeedsARoot: without a root the header would be invalid (go-car
// writes "roots": null), so the writer refuses before any shard exists.
func TestShardNeedsARoot(t *testing.T) {
	if _, err := newShardWriter(t.TempDir(), 1<<20, nil); !errors.Is(err, ErrBadInput) {
		t.Fatalf("no roots: %v, want ErrBadInput", err)
	}
}
