package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	basicnode "github.com/ipld/go-ipld-prime/node/basic"
	"github.com/multiformats/go-multihash"
)

func encode(t *testing.T, codec uint64, n datamodel.Node) rawBlock {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch codec {
	case cid.DagCBOR:
		err = dagcbor.Encode(n, &buf)
	case cid.DagJSON:
		err = dagjson.Encode(n, &buf)
	}
	if err != nil {
		t.Fatal(err)
	}
	mh, _ := multihash.Sum(buf.Bytes(), multihash.SHA2_256, -1)
	return rawBlock{c: cid.NewCidV1(codec, mh), data: buf.Bytes()}
}

func rawOf(data []byte) rawBlock {
	mh, _ := multihash.Sum(data, multihash.SHA2_256, -1)
	return rawBlock{c: cid.NewCidV1(cid.Raw, mh), data: data}
}

// TestCodecsIncompleteDAGAndIdentity imports a CAR of dag-cbor, dag-json
// and raw blocks whose DAG lacks a block, and checks each is served.
func TestCodecsIncompleteDAGAndIdentity(t *testing.T) {
	leaf := rawOf([]byte("leaf bytes"))
	missing := rawOf([]byte("this block is not in the CAR"))
	js := encode(t, cid.DagJSON, must(qp.BuildMap(basicnode.Prototype.Any, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "hello", qp.String("world"))
		qp.MapEntry(ma, "leaf", qp.Link(cidlink.Link{Cid: leaf.c}))
	})))
	cb := encode(t, cid.DagCBOR, must(qp.BuildMap(basicnode.Prototype.Any, 3, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "n", qp.Int(42))
		qp.MapEntry(ma, "json", qp.Link(cidlink.Link{Cid: js.c}))
		qp.MapEntry(ma, "gone", qp.Link(cidlink.Link{Cid: missing.c}))
	})))
	car := filepath.Join(t.TempDir(), "mixed.car")
	writeCAR(t, car, []cid.Cid{cb.c}, cb, js, leaf)
	data := t.TempDir()
	roots := importRoots(t, data, car)
	if len(roots) != 1 || roots[0] != cb.c.String() {
		t.Fatalf("roots %v, want [%s]", roots, cb.c)
	}
	s := startServe(t, data)

	for _, b := range []rawBlock{cb, js, leaf} {
		resp, body := fetch(t, "GET", s.url+"/ipfs/"+b.c.String()+"?format=raw")
		if resp.StatusCode != 200 || !bytes.Equal(body, b.data) {
			t.Errorf("%s raw: status %d", b.c, resp.StatusCode)
		}
	}
	// No conversion between codecs (IPIP-524): dag-cbor asked as dag-json is 406.
	resp, body := fetch(t, "GET", s.url+"/ipfs/"+cb.c.String()+"?format=dag-json")
	if resp.StatusCode != http.StatusNotAcceptable {
		t.Errorf("dag-cbor as dag-json: status %d body %s, want 406", resp.StatusCode, body)
	}
	resp, body = fetch(t, "GET", s.url+"/ipfs/"+js.c.String(), "Accept", "application/vnd.ipld.dag-json")
	if resp.StatusCode != 200 || !bytes.Equal(body, js.data) {
		t.Errorf("dag-json as itself: status %d", resp.StatusCode)
	}
	resp, body = fetch(t, "GET", s.url+"/ipfs/"+cb.c.String()+"/json", "Accept", "application/vnd.ipld.dag-json")
	if resp.StatusCode != 200 || !bytes.Equal(body, js.data) {
		t.Errorf("path through a dag-cbor link to dag-json: status %d body %q", resp.StatusCode, body)
	}
	resp, _ = fetch(t, "GET", s.url+"/ipfs/"+cb.c.String()+"?format=dag-cbor")
	checkHeader(t, resp, "Content-Type", "application/vnd.ipld.dag-cbor")
	// The missing block is not found, the rest of the DAG is.
	resp, _ = fetch(t, "GET", s.url+"/ipfs/"+missing.c.String()+"?format=raw")
	if resp.StatusCode != 404 {
		t.Errorf("missing block: %d, want 404", resp.StatusCode)
	}
	// Identity CIDs need no storage.
	idmh, _ := multihash.Sum([]byte("hello identity"), multihash.IDENTITY, -1)
	id := cid.NewCidV1(cid.Raw, idmh)
	resp, body = fetch(t, "GET", s.url+"/ipfs/"+id.String())
	if resp.StatusCode != 200 || string(body) != "hello identity" {
		t.Errorf("identity CID: status %d body %q", resp.StatusCode, body)
	}
}

func must(n datamodel.Node, err error) datamodel.Node {
	if err != nil {
		panic(err)
	}
	return n
}

// TestHAMTDirectory imports a directory big enough to be HAMT-sharded and
// serves listings and lookups through it.
func TestHAMTDirectory(t *testing.T) {
	dir := t.TempDir()
	const n = 5000
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("entry-with-a-fairly-long-name-%05d.txt", i)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprintf("file %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data := t.TempDir()
	root := importRoots(t, data, dir)[0]
	s := startServe(t, data)
	resp, body := fetch(t, "GET", s.url+"/ipfs/"+root+"?format=raw")
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte{0x08, 0x05}) { // UnixFS Data.Type = HAMTShard (5)
		t.Fatalf("root is not a HAMT shard node (status %d)", resp.StatusCode)
	}
	for _, i := range []int{0, 1234, n - 1} {
		name := fmt.Sprintf("entry-with-a-fairly-long-name-%05d.txt", i)
		resp, body := fetch(t, "GET", s.url+"/ipfs/"+root+"/"+name)
		if resp.StatusCode != 200 || string(body) != fmt.Sprintf("file %d\n", i) {
			t.Errorf("%s: status %d body %q", name, resp.StatusCode, body)
		}
	}
	resp, body = fetch(t, "GET", s.url+"/ipfs/"+root+"/")
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("entry-with-a-fairly-long-name-04999.txt")) {
		t.Errorf("HAMT listing: status %d", resp.StatusCode)
	}
	resp, _ = fetch(t, "GET", s.url+"/ipfs/"+root+"/no-such-entry")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("HAMT miss: %d", resp.StatusCode)
	}
}

// TestBadImportsLeaveNoTrace imports malformed, truncated and
// hash-mismatched CARs: each fails naming the problem, and nothing is stored.
func TestBadImportsLeaveNoTrace(t *testing.T) {
	good := rawOf([]byte("good block"))
	other := rawOf([]byte("another block"))
	dir := t.TempDir()
	valid := filepath.Join(dir, "valid.car")
	writeCAR(t, valid, []cid.Cid{good.c}, good, other)
	whole, _ := os.ReadFile(valid)

	mismatch := filepath.Join(dir, "mismatch.car")
	writeCAR(t, mismatch, []cid.Cid{good.c}, good, rawBlock{c: other.c, data: []byte("not the bytes")})
	truncated := filepath.Join(dir, "truncated.car")
	os.WriteFile(truncated, whole[:len(whole)-5], 0o644)
	garbage := filepath.Join(dir, "garbage.car")
	os.WriteFile(garbage, []byte("this is not a CAR file at all"), 0o644)

	data := t.TempDir()
	cases := []struct {
		path, want string
	}{
		{mismatch, "do not match the CID"}, // a block whose bytes do not hash to its CID
		{truncated, "at byte"},             // a CAR cut short names the offset
		{garbage, "CAR header"},            // not a CAR
	}
	for _, c := range cases {
		_, err := cargate(t, "import", "--data-dir", data, "--quiet", c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want it to mention %q", filepath.Base(c.path), err, c.want)
		}
		if n := countBlobs(t, data); n != 0 {
			t.Fatalf("%s: a failed import left %d blobs", filepath.Base(c.path), n)
		}
	}
	if leftovers, _ := os.ReadDir(filepath.Join(data, "tmp")); len(leftovers) != 0 {
		t.Errorf("failed imports left %d temporary files", len(leftovers))
	}
	s := startServe(t, data)
	resp, _ := fetch(t, "GET", s.url+"/ipfs/"+good.c.String()+"?format=raw")
	if resp.StatusCode != 404 {
		t.Errorf("content of a failed import is visible: %d", resp.StatusCode)
	}
}

// TestFlippedByteNeverServed corrupts one byte of a stored shard: the
// gateway answers 502 (or aborts a stream) and never sends that byte.
func TestFlippedByteNeverServed(t *testing.T) {
	dir := t.TempDir()
	small := []byte("small file content that will be corrupted on disk\n")
	big := seeded(2<<20+77, 7)
	os.WriteFile(filepath.Join(dir, "small.txt"), small, 0o644)
	os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644)
	data := t.TempDir()
	root := importRoots(t, data, dir)[0]

	// Flip a byte inside each file's data in every shard that holds it.
	flipped := 0
	filepath.Walk(filepath.Join(data, "blobs"), func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, needle := range [][]byte{small[:20], big[1<<20+100 : 1<<20+140]} {
			if i := bytes.Index(b, needle); i >= 0 {
				b[i+5] ^= 0xff
				flipped++
			}
		}
		return os.WriteFile(p, b, 0o644)
	})
	if flipped != 2 {
		t.Fatalf("flipped %d places, want 2", flipped)
	}
	s := startServe(t, data)
	resp, body := fetch(t, "GET", s.url+"/ipfs/"+root+"/small.txt")
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("corrupt small file: status %d, want 502", resp.StatusCode)
	}
	if bytes.Contains(body, small[5:10]) || strings.Contains(string(body), "hashes to") {
		t.Errorf("502 body leaks content or internals: %q", body)
	}
	// The big file's second chunk is corrupt: headers are out by then,
	// so the stream must end in an error, never cleanly.
	req, _ := http.NewRequest("GET", s.url+"/ipfs/"+root+"/big.bin", nil)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, readErr := readAllLimit(r2)
	r2.Body.Close()
	if r2.StatusCode == 200 && readErr == nil {
		t.Fatalf("corrupt big file: stream ended cleanly with %d of %d bytes", len(got), len(big))
	}
	if r2.StatusCode != 200 {
		// The corrupt chunk was met before the first body byte went out.
		if r2.StatusCode != http.StatusBadGateway || bytes.Contains(got, big[1<<20+100:1<<20+140]) {
			t.Fatalf("corrupt big file: status %d, want 200 then an abort, or 502", r2.StatusCode)
		}
		return
	}
	if len(got) > 1<<20 && !bytes.Equal(got[1<<20:min(len(got), 1<<20+140)], big[1<<20:min(len(got), 1<<20+140)]) {
		t.Fatal("corrupt bytes were sent")
	}
	if !bytes.Equal(got, big[:len(got)]) {
		t.Fatal("bytes sent differ from the original")
	}
}
