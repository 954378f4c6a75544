package datagen

import (
	"context"
	"io"
	"os"
	"reflect"
	"testing"

	car "github.com/ipld/go-car/v2"
)

// readCAR checks every block's hash and returns the header roots and the
// block CIDs in file order.
func readCAR(t *testing.T, path string) (roots, order []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br, err := car.NewBlockReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, r := range br.Roots {
		roots = append(roots, r.String())
	}
	for {
		blk, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		want, err := blk.Cid().Prefix().Sum(blk.RawData())
		if err != nil || !want.Equals(blk.Cid()) {
			t.Fatalf("%s: block %s does not match its hash", path, blk.Cid())
		}
		order = append(order, blk.Cid().String())
	}
	return roots, order
}

func TestGenerateSmoke(t *testing.T) {
	dir := t.TempDir()
	sizes := Profiles["smoke"]
	set, err := Generate(context.Background(), dir, 7, "smoke", sizes)
	if err != nil {
		t.Fatal(err)
	}
	cars := append(set.ServedCARs(), set.Import.CAR)
	wantRoots := append(set.ServedRoots(), set.Import.Root)
	for i, path := range cars {
		roots, order := readCAR(t, path)
		// The root is the header's only root and the first block (pre-order).
		if len(roots) != 1 || roots[0] != wantRoots[i] || order[0] != wantRoots[i] {
			t.Errorf("%s: roots %v, first block %s, want %s", path, roots, order[0], wantRoots[i])
		}
	}
	if got := len(set.SmallDir.Names); got != sizes.SmallFiles {
		t.Errorf("small dir has %d entries, want %d", got, sizes.SmallFiles)
	}
	wantLeaves := int((sizes.BigFileSize + int64(sizes.ChunkSize) - 1) / int64(sizes.ChunkSize))
	if got := len(set.BigFile.Leaves); got != wantLeaves {
		t.Errorf("big file has %d leaves, want %d", got, wantLeaves)
	}
	if _, order := readCAR(t, set.CBOR.CAR); len(order) != set.CBOR.Nodes {
		t.Errorf("cbor CAR has %d blocks, want %d", len(order), set.CBOR.Nodes)
	}

	// Same key: served from the cache, identical manifest.
	again, err := Generate(context.Background(), dir, 7, "smoke", sizes)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(set, again) {
		t.Error("cached set differs from the generated one")
	}
	// Another directory, same seed: the same content addresses.
	other, err := Generate(context.Background(), t.TempDir(), 7, "smoke", sizes)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(set.ServedRoots(), other.ServedRoots()) || set.Import.Root != other.Import.Root {
		t.Error("generation is not deterministic")
	}
}
