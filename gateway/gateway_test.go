package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	chunker "github.com/ipfs/boxo/chunker"
	boxogw "github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	format "github.com/ipfs/go-ipld-format"
	"github.com/multiformats/go-multihash"
	"github.com/prometheus/client_golang/prometheus"
)

var builder = cid.V1Builder{Codec: cid.DagProtobuf, MhType: multihash.SHA2_256}

// fixture builds, in memory, a directory with files, a subdirectory with
// many entries and a HAMT-sharded directory, and returns its root.
func fixture(t *testing.T) (blockstore.Blockstore, cid.Cid) {
	t.Helper()
	ctx := context.Background()
	bs := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	dag := merkledag.NewDAGService(blockservice.New(bs, nil))
	file := func(data []byte) format.Node {
		p := helpers.DagBuilderParams{Maxlinks: helpers.DefaultLinksPerBlock, RawLeaves: true, CidBuilder: builder, Dagserv: dag}
		db, err := p.New(chunker.NewSizeSplitter(bytes.NewReader(data), 1024))
		if err != nil {
			t.Fatal(err)
		}
		nd, err := balanced.Layout(db)
		if err != nil {
			t.Fatal(err)
		}
		return nd
	}
	dir := func(entries map[string]format.Node, opts ...uio.DirectoryOption) format.Node {
		d, err := uio.NewDirectory(dag, append(opts, uio.WithCidBuilder(builder))...)
		if err != nil {
			t.Fatal(err)
		}
		for name, nd := range entries {
			if err := d.AddChild(ctx, name, nd); err != nil {
				t.Fatal(err)
			}
		}
		nd, err := d.GetNode()
		if err != nil {
			t.Fatal(err)
		}
		if err := dag.Add(ctx, nd); err != nil {
			t.Fatal(err)
		}
		return nd
	}
	many := map[string]format.Node{}
	for i := 0; i < 300; i++ {
		many[fmt.Sprintf("f%03d.txt", i)] = file([]byte(fmt.Sprintf("file %d\n", i)))
	}
	hamt, err := uio.NewHAMTDirectory(dag, 0, uio.WithCidBuilder(builder))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if err := hamt.AddChild(ctx, fmt.Sprintf("h%02d.txt", i), file([]byte(fmt.Sprintf("hamt %d\n", i)))); err != nil {
			t.Fatal(err)
		}
	}
	hnd, err := hamt.GetNode()
	if err != nil {
		t.Fatal(err)
	}
	dag.Add(ctx, hnd)
	root := dir(map[string]format.Node{
		"index.html": file([]byte("<html><body>hi</body></html>")),
		"big.bin":    file(bytes.Repeat([]byte("0123456789abcdef"), 1000)),
		"rand.bin":   file(randomBytes(1<<20, 1)), // 1,024 distinct leaves: past a write buffer
		"many":       dir(many),
		"hamt":       hnd,
		"empty":      dir(nil),
	})
	return bs, root.Cid()
}

// TestMatchesBoxo checks that cargate's gateway (with its path and
// response caches) answers exactly as boxo's stock handler does over the
// same blocks: status, headers and body, for first and repeated requests.
func TestMatchesBoxo(t *testing.T) {
	bs, root := fixture(t)
	ours, err := New(Config{}, bs, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	backend, _ := boxogw.NewBlocksBackend(blockservice.New(bs, nil))
	conf := boxogw.Config{DeserializedResponses: true, DeprecatedXIpfsPath: true, AllowCodecConversion: false, NoDNSLink: true,
		PublicGateways: map[string]*boxogw.PublicGateway{"localhost": {Paths: []string{"/ipfs"}, UseSubdomains: true, NoDNSLink: true, DeserializedResponses: true}}}
	stock := boxogw.NewHostnameHandler(conf, backend, boxogw.NewHandler(conf, backend))
	r := "/ipfs/" + root.String()
	cases := []struct {
		method, target string
		hdr            []string
	}{
		{"GET", r + "/index.html", nil},                              // a file in the root
		{"GET", r + "/many/f123.txt", nil},                           // through a plain directory
		{"GET", r + "/many/nope.txt", nil},                           // no such link: 404
		{"GET", r + "/hamt/h07.txt", nil},                            // through a HAMT (boxo resolves)
		{"GET", r + "/hamt/nope", nil},                               // HAMT miss
		{"GET", r + "/many/", nil},                                   // a listing
		{"GET", r + "/empty/", nil},                                  // an empty listing
		{"GET", r + "/", nil},                                        // index.html served for the root
		{"GET", r + "/many", nil},                                    // redirect to the slash form
		{"HEAD", r + "/big.bin", nil},                                // HEAD
		{"GET", r + "/big.bin", []string{"Range", "bytes=100-5000"}}, // a range
		{"GET", r + "/big.bin?format=raw", nil},                      // the file's root block
		{"GET", r + "/many/f001.txt?format=car", nil},                // a CAR through a path
		{"GET", r + "/big.bin?format=car", nil},                      // a CAR whose leaves repeat: each once
		{"GET", r + "/rand.bin?format=car", nil},                     // a CAR of 1,024 leaves and their parents
		{"GET", r + "/index.html", []string{"Accept", "application/vnd.ipld.raw"}},
		{"GET", r + "/index.html", []string{"If-None-Match", `"` + "x" + `"`}},
		{"GET", r + "/index.html/deeper", nil}, // a path below a file
	}
	for round := 0; round < 2; round++ { // the second round is answered from caches
		for _, c := range cases {
			a := serve(t, ours, c.method, c.target, c.hdr)
			b := serve(t, stock, c.method, c.target, c.hdr)
			if a.Code != b.Code || !bytes.Equal(a.Body.Bytes(), b.Body.Bytes()) {
				t.Errorf("round %d %s %s %v: ours %d (%d bytes), boxo %d (%d bytes)", round, c.method, c.target, c.hdr, a.Code, a.Body.Len(), b.Code, b.Body.Len())
				continue
			}
			for _, h := range []string{"Content-Type", "Content-Length", "Etag", "Cache-Control", "X-Ipfs-Path", "X-Ipfs-Roots", "Location", "Content-Range"} {
				if a.Header().Get(h) != b.Header().Get(h) {
					t.Errorf("round %d %s %s: %s ours %q, boxo %q", round, c.method, c.target, h, a.Header().Get(h), b.Header().Get(h))
				}
			}
		}
	}
}

// randomBytes returns n bytes of a seeded generator: blocks that never
// repeat, unlike big.bin's.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

func serve(t *testing.T, h http.Handler, method, target string, hdr []string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestMultiRange checks multipart/byteranges against the file's bytes.
func TestMultiRange(t *testing.T) {
	bs, root := fixture(t)
	h, err := New(Config{}, bs, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	rec := serve(t, h, "GET", "/ipfs/"+root.String()+"/big.bin", []string{"Range", "bytes=0-3,1020-1030,15990-"})
	if rec.Code != http.StatusPartialContent || !strings.HasPrefix(rec.Header().Get("Content-Type"), "multipart/byteranges; boundary=") {
		t.Fatalf("status %d type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	body, _ := io.ReadAll(rec.Body)
	for _, part := range []struct {
		rng  string
		data []byte
	}{{"bytes 0-3/16000", want[0:4]}, {"bytes 1020-1030/16000", want[1020:1031]}, {"bytes 15990-15999/16000", want[15990:]}} {
		if !bytes.Contains(body, []byte("Content-Range: "+part.rng)) || !bytes.Contains(body, part.data) {
			t.Errorf("part %s missing or wrong", part.rng)
		}
	}
}
