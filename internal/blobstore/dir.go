package blobstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Dir is a Store over a local directory: the embedded default.
type Dir struct {
	root string
	// publicURL, when set, is the base URL another server publishes the
	// directory at; location claims then name it instead of file URLs.
	publicURL string
}

var (
	_ Store     = (*Dir)(nil)
	_ FileMover = (*Dir)(nil)
)

// NewDir returns a Store keeping blobs under root, creating it if needed.
func NewDir(root string) (*Dir, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("blob dir: %w", err)
	}
	return &Dir{root: abs}, nil
}

func (d *Dir) path(key string) (string, error) {
	clean := filepath.Clean("/" + key)
	if clean == "/" || strings.Contains(key, "..") {
		return "", fmt.Errorf("invalid blob key %q", key)
	}
	return filepath.Join(d.root, clean), nil
}

// Put writes the blob to a temporary file, fsyncs it and renames it into
// place, so a reader never sees a partial blob.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if _, err := os.Stat(p); err == nil {
		_, err = io.Copy(io.Discard, r)
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, r)
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("blob %s: wrote %d bytes, expected %d", key, n, size)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return err
	}
	return syncDir(filepath.Dir(p))
}

// PutFile moves a finished file into place as key, durably (the file and
// its directory are fsynced). If key exists the file is left as it is.
// Across file systems it falls back to copying.
func (d *Dir) PutFile(ctx context.Context, key, src string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.Rename(src, p); err != nil {
		fi, serr := f.Stat()
		if serr != nil {
			return err
		}
		return d.Put(ctx, key, f, fi.Size()) // e.g. EXDEV: another file system
	}
	return syncDir(filepath.Dir(p))
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// ReadRange opens the blob and returns a reader limited to the range.
func (d *Dir) ReadRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if length < 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	}
	return &sectionCloser{SectionReader: io.NewSectionReader(f, off, length), f: f}, nil
}

type sectionCloser struct {
	*io.SectionReader
	f *os.File
}

func (s *sectionCloser) Close() error { return s.f.Close() }

// Stat returns the blob's size.
func (d *Dir) Stat(ctx context.Context, key string) (int64, error) {
	p, err := d.path(key)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// URL is the public URL of key when the directory is published, else a
// file:// URL, readable by this machine only (the embedded default).
func (d *Dir) URL(key string) string {
	if d.publicURL != "" {
		return d.publicURL + "/" + key
	}
	u := url.URL{Scheme: "file", Path: d.root + "/" + key}
	return u.String()
}

// Root is the directory blobs are kept in.
func (d *Dir) Root() string { return d.root }
