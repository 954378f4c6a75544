package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/multiformats/go-multihash"
)

// site builds a small website with a nested directory, a symlink and a
// file larger than one 1 MiB chunk.
func site(t *testing.T) (string, map[string][]byte) {
	dir := t.TempDir()
	files := map[string][]byte{
		"index.html":         []byte("<!doctype html><title>t</title><h1>hello</h1>\n"),
		"style.css":          []byte("body { color: red }\n"),
		"docs/readme.txt":    []byte("plain text\n"),
		"docs/data.json":     []byte(`{"a":1}`),
		"media/big.bin":      seeded(3<<20+12345, 1),
		"media/sub/deep.txt": []byte("deep\n"),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("readme.txt", filepath.Join(dir, "docs", "link")); err != nil {
		t.Fatal(err)
	}
	return dir, files
}

func seeded(n int, seed uint64) []byte {
	r := mrand.New(mrand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestEndToEnd imports a website, a multi-shard file and a HAMT directory,
// serves them, and checks responses against the gateway specs.
func TestEndToEnd(t *testing.T) {
	data := t.TempDir()
	dir, files := site(t)
	roots := importRoots(t, data, "--shard-size", "1048576", dir)
	if len(roots) != 1 {
		t.Fatalf("want 1 root, got %v", roots)
	}
	root := roots[0]
	shards := countBlobs(t, data)
	if shards < 4 {
		t.Fatalf("a 3 MiB file with 1 MiB shards must give several shards, got %d blobs", shards)
	}
	// Importing again stores nothing new.
	if again := importRoots(t, data, "--shard-size", "1048576", dir); again[0] != root {
		t.Fatalf("re-import gave root %s, want %s", again[0], root)
	}
	if n := countBlobs(t, data); n != shards {
		t.Fatalf("re-import changed the blob count from %d to %d", shards, n)
	}
	s := startServe(t, data)
	base := s.url + "/ipfs/" + root

	t.Run("files by path", func(t *testing.T) {
		for name, want := range files {
			resp, body := fetch(t, "GET", base+"/"+name)
			if resp.StatusCode != 200 || !bytes.Equal(body, want) {
				t.Errorf("%s: status %d, %d bytes; want 200 and %d bytes", name, resp.StatusCode, len(body), len(want))
			}
		}
	})
	t.Run("headers", func(t *testing.T) {
		resp, _ := fetch(t, "GET", base+"/index.html")
		checkHeader(t, resp, "Content-Type", "text/html")
		checkHeader(t, resp, "Cache-Control", "public, max-age=29030400, immutable")
		checkHeader(t, resp, "X-Ipfs-Path", "/ipfs/"+root+"/index.html")
		if !strings.Contains(resp.Header.Get("X-Ipfs-Roots"), root) {
			t.Errorf("X-Ipfs-Roots %q lacks the root", resp.Header.Get("X-Ipfs-Roots"))
		}
		etag := resp.Header.Get("Etag")
		if etag == "" {
			t.Fatal("no Etag")
		}
		resp, body := fetch(t, "GET", base+"/index.html", "If-None-Match", etag)
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("If-None-Match: status %d, want 304 with no body", resp.StatusCode)
		}
		resp, _ = fetch(t, "HEAD", base+"/media/big.bin")
		if resp.StatusCode != 200 || resp.ContentLength != int64(len(files["media/big.bin"])) {
			t.Errorf("HEAD: status %d, length %d", resp.StatusCode, resp.ContentLength)
		}
	})
	t.Run("range", func(t *testing.T) {
		big := files["media/big.bin"]
		resp, body := fetch(t, "GET", base+"/media/big.bin", "Range", "bytes=1048570-1048600")
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, big[1048570:1048601]) {
			t.Errorf("single range across a chunk boundary: status %d, body mismatch", resp.StatusCode)
		}
		checkHeader(t, resp, "Content-Range", fmt.Sprintf("bytes 1048570-1048600/%d", len(big)))
		resp, body = fetch(t, "GET", base+"/media/big.bin", "Range", "bytes=0-9,3000000-3000009")
		if resp.StatusCode != http.StatusPartialContent || !strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/byteranges") {
			t.Fatalf("multi range: status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if !bytes.Contains(body, big[0:10]) || !bytes.Contains(body, big[3000000:3000010]) {
			t.Errorf("multi range body lacks a requested part")
		}
	})
	t.Run("directory listing and index.html", func(t *testing.T) {
		resp, body := fetch(t, "GET", base+"/docs/")
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte("readme.txt")) || !bytes.Contains(body, []byte("data.json")) {
			t.Errorf("listing: status %d, missing names", resp.StatusCode)
		}
		resp, body = fetch(t, "GET", base+"/")
		if resp.StatusCode != 200 || !bytes.Equal(body, files["index.html"]) {
			t.Errorf("directory with index.html: status %d", resp.StatusCode)
		}
		resp, _ = fetch(t, "GET", base+"/docs")
		if resp.StatusCode != http.StatusMovedPermanently || !strings.HasSuffix(resp.Header.Get("Location"), "/docs/") {
			t.Errorf("directory without slash: status %d location %q, want 301 to .../docs/", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("symlink", func(t *testing.T) {
		resp, body := fetch(t, "GET", base+"/docs/link")
		if resp.StatusCode != 200 || string(body) != "readme.txt" {
			t.Errorf("symlink: status %d body %q (a gateway serves the link target text)", resp.StatusCode, body)
		}
	})
	t.Run("download and filename", func(t *testing.T) {
		resp, _ := fetch(t, "GET", base+"/docs/readme.txt?filename=notes.txt&download=true")
		if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") || !strings.Contains(cd, "notes.txt") {
			t.Errorf("Content-Disposition %q", cd)
		}
	})
	t.Run("raw block", func(t *testing.T) {
		resp, body := fetch(t, "GET", base+"/docs/readme.txt?format=raw")
		checkHeader(t, resp, "Content-Type", "application/vnd.ipld.raw")
		if resp.StatusCode != 200 || !bytes.Equal(body, files["docs/readme.txt"]) {
			t.Errorf("raw leaf: status %d body %q", resp.StatusCode, body)
		}
		resp, body = fetch(t, "GET", s.url+"/ipfs/"+root, "Accept", "application/vnd.ipld.raw")
		c, _ := cid.Decode(root)
		if resp.StatusCode != 200 || !hashes(c, body) {
			t.Errorf("raw root by Accept: status %d, bytes do not hash to the CID", resp.StatusCode)
		}
	})
	t.Run("car", func(t *testing.T) {
		resp, body := fetch(t, "GET", base+"/media/big.bin?format=car")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/vnd.ipld.car") {
			t.Fatalf("car: status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		n, size := readCAR(t, body)
		if n < 5 || size < int64(len(files["media/big.bin"])) {
			t.Errorf("car of a 3 MiB file: %d blocks, %d data bytes", n, size)
		}
		_, body = fetch(t, "GET", base+"/media/big.bin?format=car&dag-scope=block")
		// The path's blocks (root, media/, big.bin's root) prove the path.
		if n, _ := readCAR(t, body); n != 3 {
			t.Errorf("dag-scope=block: %d blocks, want 3", n)
		}
		_, body = fetch(t, "GET", base+"/media/big.bin?format=car&dag-scope=entity&entity-bytes=0:10")
		if n, _ := readCAR(t, body); n != 4 {
			t.Errorf("entity-bytes=0:10: %d blocks, want 4 (3 path blocks + first leaf)", n)
		}
		resp, _ = fetch(t, "HEAD", base+"/media/big.bin?format=car")
		if resp.StatusCode != 200 {
			t.Errorf("HEAD car: %d", resp.StatusCode)
		}
	})
	t.Run("tar", func(t *testing.T) {
		resp, body := fetch(t, "GET", base+"/docs?format=tar")
		if resp.StatusCode != 200 || !bytes.Contains(body, files["docs/readme.txt"]) {
			t.Errorf("tar: status %d", resp.StatusCode)
		}
	})
	t.Run("subdomain", func(t *testing.T) {
		c, _ := cid.Decode(root)
		host := c.String() + ".ipfs.localhost"
		resp, body := fetch(t, "GET", s.url+"/index.html", "Host", host)
		if resp.StatusCode != 200 || !bytes.Equal(body, files["index.html"]) {
			t.Errorf("subdomain: status %d", resp.StatusCode)
		}
		resp, _ = fetch(t, "GET", s.url+"/ipfs/"+root+"/style.css", "Host", "localhost")
		if resp.StatusCode != http.StatusMovedPermanently || !strings.Contains(resp.Header.Get("Location"), host) {
			t.Errorf("path request on a subdomain host: status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("errors", func(t *testing.T) {
		resp, body := fetch(t, "GET", s.url+"/ipfs/not-a-cid")
		if resp.StatusCode != 400 {
			t.Errorf("malformed CID: %d %s", resp.StatusCode, body)
		}
		unknown := randomCID(t)
		resp, _ = fetch(t, "GET", s.url+"/ipfs/"+unknown)
		if resp.StatusCode != 404 {
			t.Errorf("unknown CID: %d, want 404", resp.StatusCode)
		}
		resp, _ = fetch(t, "GET", base+"/no/such/file")
		if resp.StatusCode != 404 {
			t.Errorf("missing path: %d, want 404", resp.StatusCode)
		}
		resp, _ = fetch(t, "GET", s.url+"/ipfs/"+unknown, "Cache-Control", "only-if-cached")
		if resp.StatusCode != http.StatusPreconditionFailed {
			t.Errorf("only-if-cached unknown: %d, want 412", resp.StatusCode)
		}
		resp, _ = fetch(t, "GET", base+"/index.html", "Cache-Control", "only-if-cached")
		if resp.StatusCode != 200 {
			t.Errorf("only-if-cached held: %d, want 200", resp.StatusCode)
		}
	})
	t.Run("health", func(t *testing.T) {
		resp, body := fetch(t, "GET", s.url+"/readyz")
		if resp.StatusCode != 200 || string(body) != "ready\n" { // the details are on the operations listener
			t.Errorf("/readyz: %d %s", resp.StatusCode, body)
		}
		resp, _ = fetch(t, "GET", s.url+"/healthz")
		if resp.StatusCode != 200 {
			t.Errorf("/healthz: %d", resp.StatusCode)
		}
	})
	t.Run("cidv0", func(t *testing.T) {
		c, _ := cid.Decode(root)
		// Our imports are CIDv1; a CIDv0 form of a dag-pb sha2-256 CID names the same block.
		v0cid := cid.NewCidV0(c.Hash())
		resp, body := fetch(t, "GET", s.url+"/ipfs/"+v0cid.String()+"/index.html")
		if resp.StatusCode != 200 || !bytes.Equal(body, files["index.html"]) {
			t.Errorf("CIDv0 path: status %d", resp.StatusCode)
		}
	})
}

func checkHeader(t *testing.T, resp *http.Response, name, want string) {
	t.Helper()
	if got := resp.Header.Get(name); !strings.HasPrefix(got, want) {
		t.Errorf("%s: %q, want %q", name, got, want)
	}
}

func hashes(c cid.Cid, data []byte) bool {
	got, err := c.Prefix().Sum(data)
	return err == nil && got.Equals(c)
}

// readCAR checks every block of a CAR against its CID; it returns the block
// count and the total bytes of raw leaves.
func readCAR(t *testing.T, body []byte) (int, int64) {
	t.Helper()
	br, err := carv2.NewBlockReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("car: %v", err)
	}
	n, size := 0, int64(0)
	for {
		b, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("car block %d: %v", n, err)
		}
		if !hashes(b.Cid(), b.RawData()) {
			t.Fatalf("car block %s does not match its CID", b.Cid())
		}
		if b.Cid().Prefix().Codec == cid.Raw {
			size += int64(len(b.RawData()))
		}
		n++
	}
	return n, size
}

func randomCID(t *testing.T) string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	mh, err := multihash.Sum([]byte(n.String()), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, mh).String()
}

func countBlobs(t *testing.T, data string) int {
	t.Helper()
	n := 0
	filepath.Walk(filepath.Join(data, "blobs"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && strings.HasSuffix(p, ".blob") {
			n++
		}
		return nil
	})
	return n
}
