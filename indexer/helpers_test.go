package indexer_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/storacha/go-ucanto/principal"
	"github.com/storacha/go-ucanto/principal/ed25519/signer"

	"github.com/cargate/cargate/indexer"
	"github.com/cargate/cargate/internal/blobstore"
	"github.com/cargate/cargate/internal/claimstore"
	"github.com/cargate/cargate/internal/importer"
)

// fixture is a Service over a temp pebble store and Dir blob store, with
// one imported directory tree.
type fixture struct {
	svc   *indexer.Service
	id    principal.Signer
	store claimstore.Store
	blobs *blobstore.Dir
	root  cid.Cid
	files map[string][]byte
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newService returns a Service over fresh stores and the given remote sources.
func newService(t *testing.T, remote []indexer.ClaimFinder, reader blobstore.URLReader) (*indexer.Service, principal.Signer, claimstore.Store, *blobstore.Dir) {
	t.Helper()
	dir := t.TempDir()
	id, err := signer.Generate()
	if err != nil {
		t.Fatal(err)
	}
	store, err := claimstore.OpenPebble(filepath.Join(dir, "claims"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	blobs, err := blobstore.NewDir(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	if reader == nil {
		reader = blobstore.NewRouter(nil, blobs)
	}
	svc, err := indexer.New(id, store, remote, reader, indexer.Config{}, prometheus.NewRegistry(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc, id, store, blobs
}

// newFixture imports a small directory tree (several shards) into a new Service.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	svc, id, store, blobs := newService(t, nil, nil)
	f := &fixture{svc: svc, id: id, store: store, blobs: blobs, files: map[string][]byte{}}
	src := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	for i, size := range []int{10, 5000, 300_000, 1_200_000} {
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		name := fmt.Sprintf("file%d.bin", i)
		f.files[name] = b
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	im := importer.New(blobs, svc, id, id, importer.Config{ShardSize: 512 << 10, TempDir: t.TempDir()})
	root, err := im.ImportPath(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	f.root = root
	return f
}

func readAllT(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes, want %d bytes (differ)", what, len(got), len(want))
	}
}
