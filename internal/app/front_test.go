package app

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	boxogw "github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/ipld/merkledag"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	format "github.com/ipfs/go-ipld-format"
	"github.com/multiformats/go-multihash"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cargate/cargate/gateway"
	"github.com/cargate/cargate/internal/config"
	"github.com/cargate/cargate/internal/egress"
	"github.com/cargate/cargate/internal/spool"
	"github.com/cargate/cargate/ratelimit"
	"github.com/cargate/cargate/resolver"
)

// frontFixture is a directory holding one 4 KiB file (a raw block), in
// memory.
type frontFixture struct {
	bs        blockstore.Blockstore
	root, raw cid.Cid
	data      []byte
}

func newFrontFixture(t *testing.T) frontFixture {
	t.Helper()
	ctx := context.Background()
	bs := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	dag := merkledag.NewDAGService(blockservice.New(bs, nil))
	data := bytes.Repeat([]byte("cargate front\n"), 4096/14+1)[:4096]
	leaf := merkledag.NewRawNode(data)
	if err := dag.Add(ctx, leaf); err != nil {
		t.Fatal(err)
	}
	d, err := uio.NewDirectory(dag, uio.WithCidBuilder(cid.V1Builder{Codec: cid.DagProtobuf, MhType: 0x12}))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.AddChild(ctx, "file.txt", leaf); err != nil {
		t.Fatal(err)
	}
	nd, err := d.GetNode()
	if err != nil {
		t.Fatal(err)
	}
	if err := dag.Add(ctx, nd); err != nil {
		t.Fatal(err)
	}
	return frontFixture{bs: bs, root: nd.Cid(), raw: leaf.Cid(), data: data}
}

// resolverErrors reports a missing block as the resolver does.
type resolverErrors struct{ blockstore.Blockstore }

func (s resolverErrors) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	b, err := s.Blockstore.Get(ctx, c)
	if format.IsNotFound(err) {
		return nil, resolver.ErrNotFound
	}
	return b, err
}

func (s resolverErrors) GetSize(ctx context.Context, c cid.Cid) (int, error) {
	n, err := s.Blockstore.GetSize(ctx, c)
	if format.IsNotFound(err) {
		return 0, resolver.ErrNotFound
	}
	return n, err
}

// frontUnderTest is the public listener as serveGateway builds it, over
// the fixture, with the fasthttp front, an egress spool and a test route
// or two beside the gateway.
type frontUnderTest struct {
	gw       *gateway.Gateway
	url      string
	addr     string
	reg      *prometheus.Registry
	spool    string
	producer *egress.Producer
	front    *front
}

type frontOptions struct {
	allowed   func(context.Context, string) bool
	rateLimit func(http.Handler) http.Handler
	deny      gateway.Denylist
	server    config.ServerConfig
	routes    func(*http.ServeMux)
}

func startFront(t *testing.T, fx frontFixture, o frontOptions) *frontUnderTest {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	gw, err := gateway.New(gateway.Config{Denylist: o.deny, Allowed: o.allowed, SubdomainHosts: []string{"localhost"}}, resolverErrors{fx.bs}, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	spool := t.TempDir()
	p, err := egress.OpenProducer(egress.ProducerConfig{Dir: spool, Registerer: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	// echo answers the length and SHA-256 of a request body.
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
	})
	if o.routes != nil {
		o.routes(mux)
	}
	mux.Handle("/", gw)
	if o.rateLimit == nil {
		o.rateLimit = func(h http.Handler) http.Handler { return h }
	}
	chain := publicChain(mux, o.rateLimit, func(h http.Handler) http.Handler { return egress.Middleware(h, p) }, reg)
	lim := newLimits(o.server, reg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := serveFront(lim.listener(ln), chain, gw, lim, reg, log)
	t.Cleanup(func() { f.Close(); p.Close() })
	return &frontUnderTest{gw: gw, url: "http://" + ln.Addr().String(), addr: ln.Addr().String(), reg: reg, spool: spool, producer: p, front: f}
}

// keep fetches target through net/http (a fresh connection) and waits
// until the response cache holds the answer: the cache stores in the
// background.
func (f *frontUnderTest) keep(t *testing.T, method, target string, hdr ...string) answer {
	t.Helper()
	a := fetch(t, f.url, method, target, hdr...)
	f.waitKept(t, method, target, hdr...)
	return a
}

func (f *frontUnderTest) waitKept(t *testing.T, method, target string, hdr ...string) {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	r.Host = f.addr
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			r.Host = hdr[i+1]
		} else {
			r.Header.Set(hdr[i], hdr[i+1])
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) { // a hang guard only
		if _, ok := f.gw.Lookup(r); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s was not kept", method, target)
		}
	}
}

func (f *frontUnderTest) lent() float64 {
	var m dto.Metric
	if err := f.front.lent.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func (f *frontUnderTest) counts() (answered, handedOff float64) {
	value := func(c prometheus.Counter) float64 {
		var m dto.Metric
		if err := c.Write(&m); err != nil {
			panic(err)
		}
		return m.GetCounter().GetValue()
	}
	return value(f.front.answered), value(f.front.handedOff)
}

// events closes the producer and returns the spooled events.
func (f *frontUnderTest) events(t *testing.T) []egress.Event {
	t.Helper()
	if err := f.producer.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := spool.OpenReader(f.spool, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []egress.Event
	for {
		recs, err := r.Next(100)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		for _, rec := range recs {
			ev, _, err := egress.DecodeRecord(rec)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, ev)
		}
	}
}

// answer is one response as read off the wire.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// fetch sends one request on a fresh connection (a connection handed to
// net/http stays there) and reads the answer.
func fetch(t *testing.T, base, method, target string, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, base+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{
		Transport:     &http.Transport{DisableKeepAlives: true, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	h := resp.Header.Clone()
	h.Del("Date")
	if resp.ContentLength >= 0 && h.Get("Content-Length") == "" && method != http.MethodHead {
		t.Errorf("%s %s: no Content-Length on the wire", method, target)
	}
	return answer{resp.StatusCode, h, body}
}

func sameAnswer(t *testing.T, what string, got, want answer) {
	t.Helper()
	if got.status != want.status {
		t.Errorf("%s: status %d, want %d", what, got.status, want.status)
	}
	if !bytes.Equal(got.body, want.body) {
		t.Errorf("%s: body of %d bytes differs from the %d expected", what, len(got.body), len(want.body))
	}
	keys := func(h http.Header) []string {
		var k []string
		for key := range h {
			k = append(k, key)
		}
		slices.Sort(k)
		return k
	}
	if !slices.Equal(keys(got.header), keys(want.header)) {
		t.Errorf("%s: header keys %v, want %v", what, keys(got.header), keys(want.header))
	}
	for k, v := range want.header {
		if !slices.Equal(got.header[k], v) {
			t.Errorf("%s: %s %q, want %q", what, k, got.header[k], v)
		}
	}
}

// TestFrontMatchesBoxo checks that what the fasthttp front answers from
// kept answers is, status, every header (Date aside) and body, what stock
// boxo answers (with the spec's CORS headers cargate adds), and what
// net/http answered for the same request when it was not yet kept.
func TestFrontMatchesBoxo(t *testing.T) {
	fx := newFrontFixture(t)
	fut := startFront(t, fx, frontOptions{})
	backend, err := boxogw.NewBlocksBackend(blockservice.New(fx.bs, nil))
	if err != nil {
		t.Fatal(err)
	}
	conf := boxogw.Config{DeserializedResponses: true, DeprecatedXIpfsPath: true, NoDNSLink: true,
		PublicGateways: map[string]*boxogw.PublicGateway{"localhost": {Paths: []string{"/ipfs"}, UseSubdomains: true, NoDNSLink: true, DeserializedResponses: true}}}
	stock := httptest.NewServer(gateway.WithCORS(boxogw.NewHostnameHandler(conf, backend, boxogw.NewHandler(conf, backend))))
	t.Cleanup(stock.Close)

	root, raw := fx.root.String(), fx.raw.String()
	mh, _ := multihash.Sum([]byte("not stored"), multihash.SHA2_256, -1)
	unknown := cid.NewCidV1(cid.Raw, mh).String()
	// Every row is answered by net/http first (and kept), then by the
	// front. errorText marks the rows whose body is boxo's error text,
	// which names the retrieval step where stock boxo's does not: there
	// the front must still equal net/http, and boxo in all but the text.
	cases := []struct {
		name, method, target string
		hdr                  []string
		fast, errorText      bool
	}{
		{"4 KiB file by path", "GET", "/ipfs/" + root + "/file.txt", nil, true, false},
		{"HEAD of it", "HEAD", "/ipfs/" + root + "/file.txt", nil, true, false},
		{"raw block by CID", "GET", "/ipfs/" + raw + "?format=raw", nil, true, false},
		{"raw block by Accept", "GET", "/ipfs/" + raw, []string{"Accept", "application/vnd.ipld.raw"}, true, false},
		{"unknown CID: 404", "GET", "/ipfs/" + unknown, nil, true, true},
		// A kept HEAD 404 has no Content-Length (http.Error drops it):
		// net/http sends none on a hit, fasthttp would send one, so it is
		// left to net/http.
		{"HEAD of a 404", "HEAD", "/ipfs/" + unknown, nil, false, true},
		{"subdomain origin", "GET", "/file.txt", []string{"Host", root + ".ipfs.localhost"}, true, false},
	}
	for _, c := range cases {
		want := fetch(t, stock.URL, c.method, c.target, c.hdr...)
		a0, h0 := fut.counts()
		first := fetch(t, fut.url, c.method, c.target, c.hdr...) // kept now
		if c.fast {
			fut.waitKept(t, c.method, c.target, c.hdr...)
		}
		a1, h1 := fut.counts()
		second := fetch(t, fut.url, c.method, c.target, c.hdr...)
		a2, h2 := fut.counts()
		if a1 != a0 || h1 != h0+1 {
			t.Errorf("%s: the first request was not handed to net/http (answered %v→%v, handed off %v→%v)", c.name, a0, a1, h0, h1)
		}
		if c.fast && (a2 != a1+1 || h2 != h1) {
			t.Errorf("%s: the second request was not answered by the front (answered %v→%v, handed off %v→%v)", c.name, a1, a2, h1, h2)
		}
		if !c.fast && (a2 != a1 || h2 != h1+1) {
			t.Errorf("%s: the second request was not handed to net/http (answered %v→%v, handed off %v→%v)", c.name, a1, a2, h1, h2)
		}
		if c.errorText {
			first.header.Del("Content-Length")
			second.header.Del("Content-Length")
			want.header.Del("Content-Length")
			first.body, second.body, want.body = nil, nil, nil
		}
		sameAnswer(t, c.name+" (net/http vs boxo)", first, want)
		sameAnswer(t, c.name+" (second vs boxo)", second, want)
	}
	// The front's answers byte for byte against net/http's, error texts
	// included: a fresh server answers each row by net/http, then by the
	// front.
	fresh := startFront(t, fx, frontOptions{})
	for _, c := range cases {
		if !c.fast {
			continue // net/http both times
		}
		first := fresh.keep(t, c.method, c.target, c.hdr...)
		second := fetch(t, fresh.url, c.method, c.target, c.hdr...)
		sameAnswer(t, c.name+" (front vs net/http)", second, first)
	}
}

// rawExchange writes requests on one connection and reads the answers.
type rawExchange struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawExchange {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// A hang guard only: a broken hand-off would leave the read waiting.
	c.SetDeadline(time.Now().Add(time.Minute))
	return &rawExchange{t: t, c: c, br: bufio.NewReader(c)}
}

func (x *rawExchange) send(s string) {
	x.t.Helper()
	if _, err := io.WriteString(x.c, s); err != nil {
		x.t.Fatal(err)
	}
}

func (x *rawExchange) read(method string) (*http.Response, []byte) {
	x.t.Helper()
	resp, err := http.ReadResponse(x.br, &http.Request{Method: method})
	if err != nil {
		x.t.Fatalf("reading an answer: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		x.t.Fatal(err)
	}
	return resp, body
}

// TestFrontKeepAliveHandOff sends, on one kept-alive connection, a hit,
// a miss, a range, a hit, a POST and a hit again: the front answers the
// hits, lends the miss and the range to net/http and takes the
// connection back each time, hands the connection to net/http for good
// at the POST, and every answer is right, the last hit included (net/http
// answers it from the cache).
func TestFrontKeepAliveHandOff(t *testing.T) {
	fx := newFrontFixture(t)
	fut := startFront(t, fx, frontOptions{})
	file := "/ipfs/" + fx.root.String() + "/file.txt"
	fut.keep(t, "GET", file) // kept
	a0, h0 := fut.counts()
	l0 := fut.lent()

	x := dialRaw(t, fut.addr)
	get := "GET " + file + " HTTP/1.1\r\nHost: " + fut.addr + "\r\n\r\n" // as fetch sent it
	hit := func(what string) {
		t.Helper()
		x.send(get)
		if resp, body := x.read("GET"); resp.StatusCode != 200 || !bytes.Equal(body, fx.data) {
			t.Fatalf("%s: %d, %d bytes", what, resp.StatusCode, len(body))
		}
	}
	hit("first hit")
	x.send("GET /ipfs/" + fx.raw.String() + "?format=raw HTTP/1.1\r\nHost: gw.example\r\n\r\n") // a miss
	if resp, body := x.read("GET"); resp.StatusCode != 200 || !bytes.Equal(body, fx.data) {
		t.Fatalf("miss: %d, %d bytes", resp.StatusCode, len(body))
	}
	x.send("GET " + file + " HTTP/1.1\r\nHost: gw.example\r\nRange: bytes=10-19\r\n\r\n")
	if resp, body := x.read("GET"); resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, fx.data[10:20]) {
		t.Fatalf("range: %d %q", resp.StatusCode, body)
	}
	hit("hit after two lent requests")
	if a, h := fut.counts(); a != a0+2 || h != h0 || fut.lent() != l0+2 {
		t.Errorf("answered +%v (want 2), lent +%v (want 2), handed off +%v (want 0)", a-a0, fut.lent()-l0, h-h0)
	}
	x.send("POST /echo HTTP/1.1\r\nHost: gw.example\r\nContent-Length: 5\r\n\r\nhello")
	resp, body := x.read("POST")
	if want := fmt.Sprintf("5 %x", sha256.Sum256([]byte("hello"))); string(body) != want {
		t.Fatalf("post: %d %q, want %q", resp.StatusCode, body, want)
	}
	hit("hit after the hand-off")
	if a, h := fut.counts(); a != a0+2 || h != h0+1 {
		t.Errorf("answered +%v (want 2), handed off +%v (want 1)", a-a0, h-h0)
	}
}

// TestFrontLendPipelined checks requests sent together on one
// connection, misses lent to net/http between hits of the front: every
// answer comes, in order, once.
func TestFrontLendPipelined(t *testing.T) {
	fx := newFrontFixture(t)
	fut := startFront(t, fx, frontOptions{})
	file := "/ipfs/" + fx.root.String() + "/file.txt"
	fut.keep(t, "GET", file) // kept
	mh, _ := multihash.Sum([]byte("pipelined"), multihash.SHA2_256, -1)
	hit := "GET " + file + " HTTP/1.1\r\nHost: " + fut.addr + "\r\n\r\n"
	miss := "GET /ipfs/" + cid.NewCidV1(cid.Raw, mh).String() + " HTTP/1.1\r\nHost: " + fut.addr + "\r\n\r\n"
	head := "HEAD /ipfs/" + fx.raw.String() + " HTTP/1.1\r\nHost: " + fut.addr + "\r\n\r\n"
	last := "GET " + file + " HTTP/1.1\r\nHost: " + fut.addr + "\r\nConnection: close\r\n\r\n"
	x := dialRaw(t, fut.addr)
	x.send(hit + miss + hit + head + miss + hit + last)
	for i, want := range []struct {
		method string
		status int
	}{{"GET", 200}, {"GET", 404}, {"GET", 200}, {"HEAD", 200}, {"GET", 404}, {"GET", 200}, {"GET", 200}} {
		resp, body := x.read(want.method)
		if resp.StatusCode != want.status || (want.method == "GET" && want.status == 200 && !bytes.Equal(body, fx.data)) {
			t.Fatalf("answer %d: %d (want %d), %d bytes", i, resp.StatusCode, want.status, len(body))
		}
	}
	if rest, _ := io.ReadAll(x.br); len(rest) > 0 {
		t.Errorf("answered more than asked: %.80q", rest)
	}
	if fut.lent() < 2 {
		t.Errorf("lent %v requests, want at least the two misses", fut.lent())
	}
}

// TestFrontHandsOffBodies checks that request bodies reach net/http
// whole whatever their framing: past what fasthttp reads ahead, chunked,
// after Expect: 100-continue, and with the next request pipelined behind.
func TestFrontHandsOffBodies(t *testing.T) {
	fx := newFrontFixture(t)
	fut := startFront(t, fx, frontOptions{})
	sum := func(b []byte) string { return fmt.Sprintf("%d %x", len(b), sha256.Sum256(b)) }
	for _, n := range []int{0, 100, prefetchedBody - 1, prefetchedBody, prefetchedBody + 1, 300 << 10} {
		body := bytes.Repeat([]byte{byte(n)}, n)
		for i := range body {
			body[i] = byte(i * 7)
		}
		x := dialRaw(t, fut.addr)
		x.send(fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n", n) + string(body) +
			"POST /echo HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\n\r\nabc")
		if _, got := x.read("POST"); string(got) != sum(body) {
			t.Errorf("%d bytes: echo %q, want %q", n, got, sum(body))
		}
		if _, got := x.read("POST"); string(got) != sum([]byte("abc")) {
			t.Errorf("the request pipelined after %d bytes: echo %q", n, got)
		}
	}
	x := dialRaw(t, fut.addr)
	x.send("POST /echo HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
	if _, got := x.read("POST"); string(got) != sum([]byte("hello world")) {
		t.Errorf("chunked: echo %q", got)
	}
	x = dialRaw(t, fut.addr)
	x.send("POST /echo HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n")
	line, err := x.br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("expect: %q %v", line, err)
	}
	x.br.ReadString('\n') // the blank line ending the interim answer
	x.send("hello")
	if _, got := x.read("POST"); string(got) != sum([]byte("hello")) {
		t.Errorf("after 100-continue: echo %q", got)
	}
	if rest, _ := io.ReadAll(x.br); len(rest) > 0 { // the server closes after the answer
		t.Errorf("more after the answer to Expect: 100-continue: %q", rest)
	}
}

// TestFrontConnect checks CONNECT reaches WithTunnel through a hand-off and
// the tunnel then carries ordinary requests.
func TestFrontConnect(t *testing.T) {
	fx := newFrontFixture(t)
	fut := startFront(t, fx, frontOptions{})
	x := dialRaw(t, fut.addr)
	x.send("CONNECT " + fx.root.String() + ".ipfs.localhost:80 HTTP/1.1\r\nHost: " + fx.root.String() + ".ipfs.localhost:80\r\n\r\n")
	if resp, _ := x.read("CONNECT"); resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	x.send("GET /file.txt HTTP/1.1\r\nHost: " + fx.root.String() + ".ipfs.localhost\r\n\r\n")
	if resp, body := x.read("GET"); resp.StatusCode != 200 || !bytes.Equal(body, fx.data) {
		t.Fatalf("through the tunnel: %d, %d bytes", resp.StatusCode, len(body))
	}
}

// TestFrontEgress checks that answers of the front are accounted as
// net/http's are: one event each, the same but for its time.
func TestFrontEgress(t *testing.T) {
	fx := newFrontFixture(t)
	fut := startFront(t, fx, frontOptions{})
	file := "/ipfs/" + fx.root.String() + "/file.txt"
	fut.keep(t, "GET", file)  // net/http, kept
	fut.keep(t, "HEAD", file) // net/http, kept
	for i := 0; i < 3; i++ {  // the front
		fetch(t, fut.url, "GET", file)
	}
	fetch(t, fut.url, "HEAD", file)
	fetch(t, fut.url, "GET", "/healthz") // not content: no event
	if a, h := fut.counts(); a != 4 || h != 3 {
		t.Fatalf("answered %v (want 4), handed off %v (want 3)", a, h)
	}
	evs := fut.events(t)
	if len(evs) != 6 {
		t.Fatalf("%d events, want 6: %+v", len(evs), evs)
	}
	norm := func(e egress.Event) egress.Event { e.ID, e.ServedAt = "", time.Time{}; return e }
	for i, want := range map[int]int{2: 0, 3: 0, 4: 0, 5: 1} {
		if got, w := norm(evs[i]), norm(evs[want]); got != w {
			t.Errorf("event %d (front) %+v, want %+v (net/http)", i, got, w)
		}
	}
	if evs[0].Bytes != int64(len(fx.data)) || evs[1].Bytes != 0 {
		t.Errorf("bytes %d and %d, want %d and 0", evs[0].Bytes, evs[1].Bytes, len(fx.data))
	}
}

// switchDeny refuses every content path while on.
type switchDeny struct{ on atomic.Bool }

func (d *switchDeny) Denied(where, p string) bool { return d.on.Load() }

// TestFrontDenylist checks that a kept answer of content denied later is
// refused with 410 by the front, as by net/http.
func TestFrontDenylist(t *testing.T) {
	fx := newFrontFixture(t)
	deny := &switchDeny{}
	fut := startFront(t, fx, frontOptions{deny: deny})
	file := "/ipfs/" + fx.root.String() + "/file.txt"
	if a := fut.keep(t, "GET", file); a.status != 200 {
		t.Fatalf("before: %d", a.status)
	}
	deny.on.Store(true)
	a0, _ := fut.counts()
	got := fetch(t, fut.url, "GET", file)
	if a1, _ := fut.counts(); a1 != a0+1 {
		t.Fatalf("the front did not take the request")
	}
	if got.status != http.StatusGone || bytes.Contains(got.body, fx.data[:20]) {
		t.Errorf("denied kept answer: %d %q", got.status, got.body)
	}
	sub := fetch(t, fut.url, "GET", "/file.txt", "Host", fx.root.String()+".ipfs.localhost")
	if sub.status != http.StatusGone {
		t.Errorf("denied subdomain: %d", sub.status)
	}
}

// TestFrontRequestLimit checks that the front's answers count against
// --max-concurrent-requests with net/http's: with the one slot held by a
// request net/http serves, a hit is answered 429.
func TestFrontRequestLimit(t *testing.T) {
	fx := newFrontFixture(t)
	entered, release := make(chan struct{}), make(chan struct{})
	fut := startFront(t, fx, frontOptions{
		server: config.ServerConfig{MaxConcurrentRequests: 1},
		routes: func(m *http.ServeMux) {
			m.HandleFunc("GET /hold", func(w http.ResponseWriter, r *http.Request) { close(entered); <-release })
		},
	})
	file := "/ipfs/" + fx.root.String() + "/file.txt"
	fut.keep(t, "GET", file) // kept
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get(fut.url + "/hold")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	got := fetch(t, fut.url, "GET", file)
	close(release)
	<-done
	if got.status != http.StatusTooManyRequests || got.header.Get("Retry-After") != "1" {
		t.Errorf("a hit past the request limit: %d %v", got.status, got.header)
	}
	if a := fetch(t, fut.url, "GET", file); a.status != 200 {
		t.Errorf("after the slot is free: %d", a.status)
	}
}

// TestFrontAllowed checks that a kept answer whose space the serve
// delegation check refuses is not written by the front: the request goes
// on to boxo (which reads blocks, and there meets the same check).
func TestFrontAllowed(t *testing.T) {
	fx := newFrontFixture(t)
	var allow atomic.Bool
	allow.Store(true)
	reads := &countingStore{Blockstore: fx.bs}
	fx.bs = reads
	fut := startFront(t, fx, frontOptions{allowed: func(context.Context, string) bool { return allow.Load() }})
	file := "/ipfs/" + fx.root.String() + "/file.txt"
	fut.keep(t, "GET", file) // kept
	before := reads.n.Load()
	fetch(t, fut.url, "GET", file)
	if reads.n.Load() != before {
		t.Fatalf("an allowed kept answer read blocks")
	}
	allow.Store(false)
	a0, _ := fut.counts()
	fetch(t, fut.url, "GET", file)
	if a1, _ := fut.counts(); a1 != a0+1 {
		t.Fatalf("the front did not take the request")
	}
	if reads.n.Load() == before {
		t.Errorf("a kept answer of a space no longer allowed was written from the cache")
	}
}

// countingStore counts block reads.
type countingStore struct {
	blockstore.Blockstore
	n atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	s.n.Add(1)
	return s.Blockstore.Get(ctx, c)
}

// TestFrontRateLimit checks that the front's answers count against the
// client's rate limit: with a burst of 2 and a rate that refills nothing
// within the test, the third kept answer is refused.
func TestFrontRateLimit(t *testing.T) {
	fx := newFrontFixture(t)
	l := ratelimit.NewLocal(ratelimit.Limit{Rate: 0.001, Burst: 2}, ratelimit.LocalConfig{}, nil)
	fut := startFront(t, fx, frontOptions{rateLimit: func(h http.Handler) http.Handler {
		return ratelimit.Middleware(h, l, ratelimit.ClientKey(nil))
	}})
	file := "/ipfs/" + fx.root.String() + "/file.txt"
	fut.keep(t, "GET", file) // net/http, kept
	a0, _ := fut.counts()
	if a := fetch(t, fut.url, "GET", file); a.status != 200 {
		t.Fatalf("second request: %d", a.status)
	}
	third := fetch(t, fut.url, "GET", file)
	if a1, _ := fut.counts(); a1 != a0+2 {
		t.Fatalf("the front answered %v requests, want 2", a1-a0)
	}
	if third.status != http.StatusTooManyRequests {
		t.Errorf("a kept answer past the rate limit: %d, want 429", third.status)
	}
}

// TestFrontMalformed checks that malformed or oversized requests get a
// 4xx, not a crash or a hang, and that the server goes on serving; and
// that requests net/http treats apart are not answered from kept answers.
func TestFrontMalformed(t *testing.T) {
	fx := newFrontFixture(t)
	fut := startFront(t, fx, frontOptions{server: config.ServerConfig{MaxHeaderBytes: 8 << 10}})
	file := "/ipfs/" + fx.root.String() + "/file.txt"
	fut.keep(t, "GET", file) // kept
	for _, c := range []struct{ name, req string }{
		{"garbage request line", "GARBAGE\r\n\r\n"},
		{"no protocol", "GET\r\n\r\n"},
		{"oversized header", "GET " + file + " HTTP/1.1\r\nHost: gw\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n"},
		{"two Host headers", "GET " + file + " HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
		{"no Host in HTTP/1.1", "GET " + file + " HTTP/1.1\r\n\r\n"},
		{"a control byte in a value", "GET " + file + " HTTP/1.1\r\nHost: gw\r\nX-A: a\x01b\r\n\r\n"},
		{"unknown expectation", "GET " + file + " HTTP/1.1\r\nHost: gw\r\nExpect: magic\r\n\r\n"},
		{"bad Content-Length", "GET " + file + " HTTP/1.1\r\nHost: gw\r\nContent-Length: x\r\n\r\n"},
	} {
		x := dialRaw(t, fut.addr)
		x.send(c.req)
		line, err := x.br.ReadString('\n')
		if err != nil {
			t.Errorf("%s: no answer: %v", c.name, err)
			continue
		}
		var code int
		if _, err := fmt.Sscanf(line, "HTTP/1.1 %d", &code); err != nil || code < 400 || code >= 500 {
			t.Errorf("%s: answered %q, want a 4xx", c.name, strings.TrimSpace(line))
		}
	}
	if a := fetch(t, fut.url, "GET", file); a.status != 200 || !bytes.Equal(a.body, fx.data) {
		t.Errorf("after the malformed requests: %d", a.status)
	}
}

func TestWithoutHeader(t *testing.T) {
	raw := "Host: a\r\nExpect: 100-continue\r\nX: y\r\nEXPECT : z\r\n\r\n"
	if got := string(withoutHeader([]byte(raw), "expect")); got != "Host: a\r\nX: y\r\n\r\n" {
		t.Errorf("%q", got)
	}
}

// TestFrontOversizedAnswered checks that a client still sending a request
// far past --max-header-bytes reads the whole 431 answer: the connection
// is not reset under it.
func TestFrontOversizedAnswered(t *testing.T) {
	fx := newFrontFixture(t)
	fut := startFront(t, fx, frontOptions{server: config.ServerConfig{MaxHeaderBytes: 8 << 10}})
	for i := 0; i < 6; i++ {
		x := dialRaw(t, fut.addr)
		if i%2 == 1 { // on a connection handed to net/http
			x.send("POST /echo HTTP/1.1\r\nHost: gw\r\nContent-Length: 1\r\n\r\na")
			x.read("POST")
		}
		wrote := make(chan error)
		go func() {
			_, err := io.WriteString(x.c, "GET /ipfs/"+strings.Repeat("a", 800<<10)+" HTTP/1.1\r\nHost: gw\r\n\r\n")
			wrote <- err
		}()
		// The answer is read once the client is done sending, as a client
		// that writes its whole request first does.
		if err := <-wrote; err != nil {
			t.Fatalf("sending: %v", err)
		}
		resp, body := x.read("GET")
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || !strings.Contains(string(body), "431") {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	}
}

// TestFrontLongHead checks that a request head longer than fasthttp's
// buffer, but within --max-header-bytes, is served by net/http: first on
// a connection, after answers of the front on the same connection, and
// pipelined behind one; and that nothing is answered twice.
func TestFrontLongHead(t *testing.T) {
	fx := newFrontFixture(t)
	fut := startFront(t, fx, frontOptions{})
	file := "/ipfs/" + fx.root.String() + "/file.txt"
	fut.keep(t, "GET", file) // kept
	hit := "GET " + file + " HTTP/1.1\r\nHost: " + fut.addr + "\r\n\r\n"
	// The long request names an unknown CID: its 404 tells it apart.
	mh, _ := multihash.Sum([]byte("long"), multihash.SHA2_256, -1)
	long := "GET /ipfs/" + cid.NewCidV1(cid.Raw, mh).String() + " HTTP/1.1\r\nHost: " + fut.addr +
		"\r\nX-Pad: " + strings.Repeat("p", 3*frontReadBuffer) + "\r\n\r\n"
	last := "GET " + file + " HTTP/1.1\r\nHost: " + fut.addr + "\r\nConnection: close\r\n\r\n"
	for _, c := range []struct {
		name  string
		sends []string // each sent whole, its answers read before the next
	}{
		{"first on its connection", []string{long, last}},
		{"after two answers of the front", []string{hit, hit, long, last}},
		{"pipelined behind an answer of the front", []string{hit + long, last}},
	} {
		x := dialRaw(t, fut.addr)
		for _, s := range c.sends {
			x.send(s)
			for _, req := range strings.SplitAfter(s, "\r\n\r\n")[:strings.Count(s, "\r\n\r\n")] {
				want := 200
				if strings.Contains(req, "X-Pad") {
					want = 404
				}
				if resp, body := x.read("GET"); resp.StatusCode != want || (want == 200 && !bytes.Equal(body, fx.data)) {
					t.Fatalf("%s: %d (want %d), %d bytes", c.name, resp.StatusCode, want, len(body))
				}
			}
		}
		if rest, _ := io.ReadAll(x.br); len(rest) > 0 {
			t.Errorf("%s: answered more than asked: %.80q", c.name, rest)
		}
	}
}
