package blobstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

// TestRouterMovedDir reads a blob through a file URL written by another
// data dir: the local directory store's copy under the same key serves it.
func TestRouterMovedDir(t *testing.T) {
	ctx := context.Background()
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := "zQm/zQm.blob"
	if err := d.Put(ctx, key, bytes.NewReader([]byte("hello blob")), 10); err != nil {
		t.Fatal(err)
	}
	r := NewRouter(nil, d)
	for _, url := range []string{d.URL(key), "file:///somewhere/else/blobs/" + key} {
		rc, err := r.ReadURL(ctx, url, 6, 4)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != "blob" {
			t.Errorf("%s: got %q", url, b)
		}
	}
	if _, err := r.ReadURL(ctx, "file:///x/zQn/zQn.blob", 0, -1); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing blob: %v, want ErrNotFound", err)
	}
	if _, err := r.ReadURL(ctx, "https://example.invalid/a", 0, -1); !errors.Is(err, ErrNotFound) {
		t.Errorf("http URL without a fallback: %v, want ErrNotFound", err)
	}
}
