package importer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"
	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-libstoracha/capabilities/assert"
	"github.com/storacha/go-ucanto/core/delegation"
	ed25519 "github.com/storacha/go-ucanto/principal/ed25519/signer"

	"github.com/cargate/cargate/internal/blobstore"
)

// sink records published claims.
type sink struct{ claims []delegation.Delegation }

func (s *sink) Publish(_ context.Context, d delegation.Delegation) error {
	s.claims = append(s.claims, d)
	return nil
}

func newImporter(t *testing.T, shardSize int64) (*Importer, *blobstore.Dir, *sink) {
	t.Helper()
	id, err := ed25519.Generate()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := blobstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	return New(dir, s, id, id, Config{ShardSize: shardSize, TempDir: t.TempDir()}), dir, s
}

func raw(data string) (cid.Cid, []byte) {
	mh, _ := multihash.Sum([]byte(data), multihash.SHA2_256, -1)
	return cid.NewCidV1(cid.Raw, mh), []byte(data)
}

func carOf(t *testing.T, v2 bool, roots []cid.Cid, blocks ...[2]any) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.car")
	f, _ := os.Create(path)
	w, err := storage.NewWritable(f, roots, carv2.WriteAsCarV1(!v2))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if err := w.Put(context.Background(), b[0].(cid.Cid).KeyString(), b[1].([]byte)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finalize(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, _ := os.ReadFile(path)
	return b
}

// TestShardsKeepOrderAndBounds imports a CAR into small shards: every
// shard stays within the size (a block larger than it gets a shard of its
// own), blocks keep their input order, and each shard is a valid CARv1
// whose name is the hash of its bytes.
func TestShardsKeepOrderAndBounds(t *testing.T) {
	var blocks [][2]any
	var order []cid.Cid
	for i := 0; i < 20; i++ {
		c, d := raw(string(bytes.Repeat([]byte{byte('a' + i)}, 300+i)))
		blocks = append(blocks, [2]any{c, d})
		order = append(order, c)
	}
	bigC, bigD := raw(string(bytes.Repeat([]byte("Z"), 5000)))
	blocks = append(blocks, [2]any{bigC, bigD})
	order = append(order, bigC)
	for _, v2 := range []bool{false, true} {
		im, dir, s := newImporter(t, 2048)
		roots, err := im.ImportCAR(context.Background(), bytes.NewReader(carOf(t, v2, []cid.Cid{order[0]}, blocks...)))
		if err != nil {
			t.Fatalf("v2=%v: %v", v2, err)
		}
		if len(roots) != 1 || !roots[0].Equals(order[0]) {
			t.Fatalf("roots %v", roots)
		}
		var seen []cid.Cid
		shards := 0
		for _, c := range s.claims {
			if c.Capabilities()[0].Can() != assert.LocationAbility {
				continue
			}
			m, _ := assert.Location.Match(validatorSource(c))
			digest := m.Value().Nb().Content.Hash()
			rc, err := dir.ReadRange(context.Background(), blobstore.Key(digest), 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(rc)
			rc.Close()
			if sum, _ := multihash.Sum(data, multihash.SHA2_256, -1); !bytes.Equal(sum, digest) {
				t.Fatalf("blob %s is not named by its hash", digest.B58String())
			}
			br, err := carv2.NewBlockReader(bytes.NewReader(data))
			if err != nil {
				continue // the index blob is a CAR too, of dag-cbor blocks; shards hold raw blocks
			}
			n := 0
			for {
				b, err := br.Next()
				if err != nil {
					break
				}
				if b.Cid().Prefix().Codec == cid.Raw {
					seen = append(seen, b.Cid())
					n++
				}
			}
			if n > 0 {
				shards++
				if len(data) > 2048 && n > 1 {
					t.Errorf("shard of %d bytes holds %d blocks, limit 2048", len(data), n)
				}
			}
		}
		if shards < 5 {
			t.Errorf("v2=%v: %d shards for ~7 KiB of blocks with 2 KiB shards", v2, shards)
		}
		if len(seen) != len(order) {
			t.Fatalf("v2=%v: %d blocks stored, want %d", v2, len(seen), len(order))
		}
		for i := range order {
			if !seen[i].Equals(order[i]) {
				t.Fatalf("v2=%v: block %d out of order", v2, i)
			}
		}
	}
}

// TestIdempotent imports the same file twice: the same root, the same
// claims (same CIDs), and no new blobs.
func TestIdempotent(t *testing.T) {
	im, dir, s := newImporter(t, DefaultShardSize)
	path := filepath.Join(t.TempDir(), "f.bin")
	os.WriteFile(path, bytes.Repeat([]byte("cargate "), 400000), 0o644)
	r1, err := im.ImportPath(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	first := len(s.claims)
	files1 := countFiles(t, dir.Root())
	r2, err := im.ImportPath(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if !r1.Equals(r2) || countFiles(t, dir.Root()) != files1 {
		t.Fatalf("re-import: root %s vs %s, files %d vs %d", r1, r2, files1, countFiles(t, dir.Root()))
	}
	for i := 0; i < first; i++ {
		if s.claims[i].Link().String() != s.claims[first+i].Link().String() {
			t.Errorf("claim %d differs on re-import", i)
		}
	}
}

// TestRejects checks that bad CARs fail with ErrBadInput and store nothing.
func TestRejects(t *testing.T) {
	c, d := raw("block")
	good := carOf(t, false, []cid.Cid{c}, [2]any{c, d})
	wrong := carOf(t, false, []cid.Cid{c}, [2]any{c, []byte("other bytes")})
	for name, in := range map[string][]byte{
		"mismatch":  wrong,
		"truncated": good[:len(good)-3],
		"garbage":   []byte("definitely not a car"),
		"empty":     nil,
	} {
		im, dir, s := newImporter(t, DefaultShardSize)
		_, err := im.ImportCAR(context.Background(), bytes.NewReader(in))
		if !errors.Is(err, ErrBadInput) {
			t.Errorf("%s: err %v, want ErrBadInput", name, err)
		}
		if len(s.claims) != 0 || countFiles(t, dir.Root()) != 0 {
			t.Errorf("%s: %d claims, %d blobs left behind", name, len(s.claims), countFiles(t, dir.Root()))
		}
	}
}

func countFiles(t *testing.T, root string) int {
	n := 0
	filepath.Walk(root, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n++
		}
		return nil
	})
	return n
}
