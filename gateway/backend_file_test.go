package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	chunker "github.com/ipfs/boxo/chunker"
	boxogw "github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	"github.com/ipfs/boxo/ipld/unixfs/importer/trickle"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	format "github.com/ipfs/go-ipld-format"
	"github.com/prometheus/client_golang/prometheus"
)

// fileFixture builds whole files of every shape fileReader walks and
// returns them by name, with their bytes.
func fileFixture(t *testing.T) (blockstore.Blockstore, map[string]cid.Cid, map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	bs := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	dag := merkledag.NewDAGService(blockservice.New(bs, nil))
	roots, want := map[string]cid.Cid{}, map[string][]byte{}
	build := func(name string, data []byte, raw, trickled bool, chunk int64) {
		p := helpers.DagBuilderParams{Maxlinks: 7, RawLeaves: raw, CidBuilder: builder, Dagserv: dag}
		db, err := p.New(chunker.NewSizeSplitter(bytes.NewReader(data), chunk))
		if err != nil {
			t.Fatal(err)
		}
		layout := balanced.Layout
		if trickled {
			layout = trickle.Layout
		}
		nd, err := layout(db)
		if err != nil {
			t.Fatal(err)
		}
		roots[name], want[name] = nd.Cid(), data
	}
	build("raw-leaves", randomBytes(50_000, 2), true, false, 1000)        // three levels of 7 links
	build("pb-leaves", randomBytes(20_000, 3), false, false, 1000)        // dag-pb leaves with their data
	build("trickle", randomBytes(30_000, 4), true, true, 1000)            // uneven depth
	build("repeats", bytes.Repeat([]byte("abc"), 10_000), true, false, 1) // one leaf, linked 30,000 times
	// A root that holds data of its own before its children's (UnixFS
	// allows it; importers do not write it).
	leaf := merkledag.NewRawNode([]byte("-leaf"))
	pbLeaf := unixfs.NewFSNode(unixfs.TFile)
	pbLeaf.SetData([]byte("-pbleaf"))
	pbBytes, _ := pbLeaf.GetBytes()
	pbNode := merkledag.NodeWithData(pbBytes)
	pbNode.SetCidBuilder(builder)
	rootFS := unixfs.NewFSNode(unixfs.TFile)
	rootFS.SetData([]byte("head"))
	rootFS.AddBlockSize(5)
	rootFS.AddBlockSize(7)
	rootBytes, _ := rootFS.GetBytes()
	root := merkledag.NodeWithData(rootBytes)
	root.SetCidBuilder(builder)
	for _, nd := range []format.Node{leaf, pbNode} {
		if err := root.AddNodeLink("", nd); err != nil {
			t.Fatal(err)
		}
	}
	if err := dag.AddMany(ctx, []format.Node{leaf, pbNode, root}); err != nil {
		t.Fatal(err)
	}
	roots["inline"], want["inline"] = root.Cid(), []byte("head-leaf-pbleaf")
	return bs, roots, want
}

// TestWholeFileMatchesBoxo: a GET of a whole multi-block file, served by
// fileReader, has boxo's status, headers and bytes.
func TestWholeFileMatchesBoxo(t *testing.T) {
	bs, roots, want := fileFixture(t)
	ours, err := New(Config{}, bs, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	backend, _ := boxogw.NewBlocksBackend(blockservice.New(bs, nil))
	conf := boxogw.Config{DeserializedResponses: true, DeprecatedXIpfsPath: true, NoDNSLink: true}
	stock := boxogw.NewHandler(conf, backend)
	for name, c := range roots {
		for _, method := range []string{"GET", "HEAD"} {
			target := "/ipfs/" + c.String()
			a := serve(t, ours, method, target, nil)
			b := serve(t, stock, method, target, nil)
			if name == "inline" {
				// boxo's reader skips the data of a node that has
				// children (it sends 12 of the 16 bytes its own
				// Content-Length announces); ours sends all 16.
				b = a
			}
			if a.Code != 200 || a.Code != b.Code || !bytes.Equal(a.Body.Bytes(), b.Body.Bytes()) {
				t.Errorf("%s %s: ours %d (%d bytes), boxo %d (%d bytes)", method, name, a.Code, a.Body.Len(), b.Code, b.Body.Len())
				continue
			}
			if method == "GET" && !bytes.Equal(a.Body.Bytes(), want[name]) {
				t.Errorf("%s: body is not the file's bytes", name)
			}
			for _, h := range []string{"Content-Type", "Content-Length", "Etag", "Cache-Control", "X-Ipfs-Path", "X-Ipfs-Roots"} {
				if a.Header().Get(h) != b.Header().Get(h) {
					t.Errorf("%s %s: %s ours %q, boxo %q", method, name, h, a.Header().Get(h), b.Header().Get(h))
				}
			}
		}
	}
}

// TestWholeFileShortDAGAborted: a file whose DAG holds fewer bytes than
// its root declares never ends as a clean 200.
func TestWholeFileShortDAGAborted(t *testing.T) {
	bs := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	dag := merkledag.NewDAGService(blockservice.New(bs, nil))
	leaf := merkledag.NewRawNode([]byte("only five"))
	fs := unixfs.NewFSNode(unixfs.TFile)
	fs.AddBlockSize(1 << 20) // claims a MiB
	b, _ := fs.GetBytes()
	root := merkledag.NodeWithData(b)
	root.SetCidBuilder(builder)
	if err := root.AddNodeLink("", leaf); err != nil {
		t.Fatal(err)
	}
	if err := dag.AddMany(context.Background(), []format.Node{leaf, root}); err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{}, bs, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	code, body, err := getErr(srv.URL + "/ipfs/" + root.Cid().String())
	if err == nil && code == 200 {
		t.Fatalf("ended cleanly: status %d, %d bytes", code, len(body))
	}
}

// TestWholeFileLongDAGAborted: a file whose DAG holds more bytes than its
// root declares is not passed off as the file: the response never ends
// as a clean 200 (its first Content-Length bytes would be a guess at
// which of the two sizes is the lie).
func TestWholeFileLongDAGAborted(t *testing.T) {
	bs := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	dag := merkledag.NewDAGService(blockservice.New(bs, nil))
	first := merkledag.NewRawNode([]byte("0123456789"))
	second := merkledag.NewRawNode([]byte("abcdefghijklmnopqrstuvwxyz"))
	fs := unixfs.NewFSNode(unixfs.TFile)
	fs.AddBlockSize(10)
	fs.AddBlockSize(2) // the second child holds 26
	b, _ := fs.GetBytes()
	root := merkledag.NodeWithData(b)
	root.SetCidBuilder(builder)
	for _, nd := range []format.Node{first, second} {
		if err := root.AddNodeLink("", nd); err != nil {
			t.Fatal(err)
		}
	}
	if err := dag.AddMany(context.Background(), []format.Node{first, second, root}); err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{}, bs, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	code, body, err := getErr(srv.URL + "/ipfs/" + root.Cid().String())
	if err == nil && code == 200 {
		t.Fatalf("ended cleanly: status %d, body %q", code, body)
	}
}
