package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/namesys"
	"github.com/ipfs/boxo/path"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/routing"
	"github.com/multiformats/go-multihash"
	"github.com/prometheus/client_golang/prometheus"
)

// fakeNames resolves every name to one path, which a test can change;
// names listed in missing fail with their error.
type fakeNames struct {
	mu      sync.Mutex
	to      path.Path
	missing map[string]error
}

func (f *fakeNames) set(c cid.Cid) {
	f.mu.Lock()
	f.to = path.FromCid(c)
	f.mu.Unlock()
}

func (f *fakeNames) Resolve(_ context.Context, p path.Path, _ ...namesys.ResolveOption) (namesys.Result, error) {
	if err := f.missing[p.Segments()[1]]; err != nil {
		return namesys.Result{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	to, err := path.Join(f.to, p.Segments()[2:]...)
	return namesys.Result{Path: to, TTL: time.Minute}, err
}

func (f *fakeNames) ResolveAsync(ctx context.Context, p path.Path, o ...namesys.ResolveOption) <-chan namesys.AsyncResult {
	ch := make(chan namesys.AsyncResult, 1)
	r, err := f.Resolve(ctx, p, o...)
	ch <- namesys.AsyncResult{Path: r.Path, TTL: r.TTL, Err: err}
	close(ch)
	return ch
}

func (f *fakeNames) Publish(context.Context, crypto.PrivKey, path.Path, ...namesys.PublishOption) error {
	return routing.ErrNotSupported
}

type noRecords struct{ routing.ValueStore }

func (noRecords) GetValue(context.Context, string, ...routing.Option) ([]byte, error) {
	return nil, routing.ErrNotFound
}

func rawBlock(t *testing.T, bs blockstore.Blockstore, codec uint64, data []byte) cid.Cid {
	t.Helper()
	mh, _ := multihash.Sum(data, multihash.SHA2_256, -1)
	b, err := blocks.NewBlockWithCid(data, cid.NewCidV1(codec, mh))
	if err != nil {
		t.Fatal(err)
	}
	if err := bs.Put(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return b.Cid()
}

// TestNamesAreMutable checks that an /ipns/ answer, a DNSLink host's
// answer and a <name>.ipns.<host> answer follow the name when it moves:
// none of the gateway's caches of immutable content may keep them.
func TestNamesAreMutable(t *testing.T) {
	bs := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	a := rawBlock(t, bs, cid.Raw, []byte("content A"))
	b := rawBlock(t, bs, cid.Raw, []byte("content B"))
	ns := &fakeNames{missing: map[string]error{"nowhere.example.org": namesys.ErrMissingDNSLinkRecord, "k51qzi5uqu5dgh7y9l90nqs6tvnzcm9erbt8fhzg3fu79p5qt9zb2izvfu51ki": routing.ErrNotFound}}
	ns.set(a)
	h, err := New(Config{SubdomainHosts: []string{"example.com"}, NameSystem: ns, Records: noRecords{}}, bs, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	const key = "k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8"
	requests := []struct{ host, target string }{
		{"", "/ipns/" + key},             // path gateway
		{"site.example.org", "/"},        // DNSLink host
		{key + ".ipns.example.com", "/"}, // subdomain gateway
	}
	for _, want := range []string{"content A", "content B"} {
		for _, rq := range requests {
			for i := 0; i < 2; i++ { // the second request would be a cache hit
				rec := serveHost(t, h, rq.host, rq.target)
				if rec.Code != 200 || rec.Body.String() != want {
					t.Fatalf("%s%s: %d %q, want %q", rq.host, rq.target, rec.Code, rec.Body, want)
				}
				if cc := rec.Header().Get("Cache-Control"); strings.Contains(cc, "immutable") {
					t.Errorf("%s%s: Cache-Control %q on a mutable name", rq.host, rq.target, cc)
				}
			}
		}
		ns.set(b)
	}
	// A domain without DNSLink is 404; an IPNS name with no valid record
	// 502 (the spec wants a 5xx), for its content and for its record.
	for target, code := range map[string]int{
		"/ipns/nowhere.example.org/": http.StatusNotFound,
		"/ipns/k51qzi5uqu5dgh7y9l90nqs6tvnzcm9erbt8fhzg3fu79p5qt9zb2izvfu51ki/": http.StatusBadGateway,
		"/ipns/" + key + "?format=ipns-record":                                  http.StatusBadGateway,
	} {
		if rec := serveHost(t, h, "", target); rec.Code != code {
			t.Errorf("%s: %d, want %d", target, rec.Code, code)
		}
	}
}

func serveHost(t *testing.T, h http.Handler, host, target string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", target, nil)
	req.Host = "127.0.0.1:8080" // a path gateway, not a subdomain host
	if host != "" {
		req.Host = host
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestCORSAndCodecs checks CORS headers on answers and errors, the OPTIONS
// preflight, and that ?format= of another codec answers 406 (IPIP-524).
func TestCORSAndCodecs(t *testing.T) {
	bs := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	raw := rawBlock(t, bs, cid.Raw, []byte("raw bytes"))
	cbor := rawBlock(t, bs, cid.DagCBOR, []byte{0xa1, 0x61, 0x61, 0x01}) // {"a": 1}
	h, err := New(Config{}, bs, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		method, target string
		code           int
	}{
		{"GET", "/ipfs/" + raw.String(), 200},                       // content
		{"GET", "/ipfs/" + raw.String() + "?format=dag-json", 406},  // raw is no dag-json
		{"GET", "/ipfs/" + cbor.String() + "?format=dag-json", 406}, // no conversion between codecs
		{"GET", "/ipfs/" + cbor.String() + "?format=dag-cbor", 200}, // a codec as itself
		{"GET", "/ipfs/not-a-cid/", 400},                            // errors carry CORS too
		{"OPTIONS", "/ipfs/" + raw.String(), 200},                   // preflight
	}
	for _, c := range cases {
		rec := serve(t, h, c.method, c.target, nil)
		if rec.Code != c.code {
			t.Errorf("%s %s: %d, want %d (%s)", c.method, c.target, rec.Code, c.code, bytes.TrimSpace(rec.Body.Bytes()))
		}
		hd := rec.Header()
		if hd.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(strings.Join(hd.Values("Access-Control-Allow-Methods"), ","), "OPTIONS") ||
			!strings.Contains(strings.Join(hd.Values("Access-Control-Expose-Headers"), ","), "Ipfs-Uri") {
			t.Errorf("%s %s: CORS headers missing: %v", c.method, c.target, hd)
		}
	}
}
