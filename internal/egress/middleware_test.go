package egress

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMiddlewareRecordsEvents(t *testing.T) {
	dir := t.TempDir()
	p, _ := openTestProducer(t, dir, nil)
	body := strings.Repeat("x", 10000)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		recordSpace(w, "did:key:space1")
		recordSpace(w, "did:key:space2") // the first space wins
		switch r.URL.Query().Get("kind") {
		case "car":
			w.Header().Set("Content-Type", "application/vnd.ipld.car; version=1")
		case "missing":
			http.Error(w, "not found", http.StatusNotFound)
			return
		case "roots":
			w.Header().Set("X-Ipfs-Roots", "bafyRoot")
		case "readfrom":
			_, _ = io.Copy(w, strings.NewReader(body)) // uses ReadFrom
			return
		case "flush":
			_, _ = io.WriteString(w, body[:100])
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("flush through middleware: %v", err)
			}
			_, _ = io.WriteString(w, body[100:])
			return
		}
		_, _ = w.Write([]byte(body))
	})
	srv := httptest.NewServer(Middleware(h, p, WithTokenID(func(r *http.Request) string { return r.Header.Get("X-Token") })))
	defer srv.Close()
	method := "GET"
	get := func(path string, host ...string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.Header.Set("X-Token", "tok-1")
		if len(host) > 0 {
			req.Host = host[0]
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get("/ipfs/bafyA/dir/file.txt")
	get("/ipfs/bafyB?kind=car")
	get("/ipfs/bafyC?kind=missing&format=raw")
	get("/ipfs/bafyD?kind=readfrom")
	get("/ipfs/bafyE?kind=flush")
	get("/healthz") // not counted
	get("/ipns/k51name/a.txt")
	get("/index.html?kind=roots", "site.example.org") // a DNSLink website: content
	get("/healthz", "gw.example.org")                 // a named host, no content: not counted
	method = "HEAD"
	get("/ipfs/bafyF") // net/http drops a HEAD's body: nothing is sent, nothing billed
	p.Close()
	evs := spooled(t, dir)
	want := []struct {
		resource, path, format string
		status                 int
		bytes                  int64
	}{
		{"bafyA", "/dir/file.txt", FormatUnixFS, 200, 10000},
		{"bafyB", "", FormatCAR, 200, 10000},
		{"bafyC", "", FormatRaw, 404, int64(len("not found\n"))},
		{"bafyD", "", FormatUnixFS, 200, 10000},
		{"bafyE", "", FormatUnixFS, 200, 10000},
		{"k51name", "/a.txt", FormatUnixFS, 200, 10000},
		{"site.example.org", "/index.html", FormatUnixFS, 200, 10000},
		{"bafyF", "", FormatUnixFS, 200, 0},
	}
	if len(evs) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(evs), len(want), evs)
	}
	ids := map[string]bool{}
	for i, w := range want {
		e := evs[i]
		if e.Resource != w.resource || e.Path != w.path || e.Format != w.format || e.Status != w.status || e.Bytes != w.bytes {
			t.Errorf("event %d = %+v, want %+v", i, e, w)
		}
		if e.Space != "did:key:space1" || e.TokenID != "tok-1" || ids[e.ID] || len(e.ID) != 26 {
			t.Errorf("event %d: space %q token %q id %q", i, e.Space, e.TokenID, e.ID)
		}
		ids[e.ID] = true
	}
}

func TestMiddlewareClientHangsUpMidBody(t *testing.T) {
	dir := t.TempDir()
	p, _ := openTestProducer(t, dir, nil)
	const size = 64 << 20 // larger than any loopback socket buffering
	const readBeforeClose = 1 << 20
	chunk := make([]byte, 32<<10)
	done := make(chan int64, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		var wrote int64
		defer func() { done <- wrote }()
		for wrote < size {
			n, err := w.Write(chunk)
			wrote += int64(n)
			if err != nil {
				return
			}
		}
	})
	srv := httptest.NewServer(Middleware(h, p))
	defer srv.Close()

	u, _ := url.Parse(srv.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /ipfs/bafybig HTTP/1.1\r\nHost: %s\r\n\r\n", u.Host)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.CopyN(io.Discard, resp.Body, readBeforeClose)
	conn.Close()
	var handlerWrote int64
	select {
	case handlerWrote = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("handler did not notice the hang-up")
	}
	srv.Close()
	p.Close()
	evs := spooled(t, dir)
	if len(evs) != 1 {
		t.Fatalf("got %d events", len(evs))
	}
	b := evs[0].Bytes
	t.Logf("client read %d, handler wrote %d, billed %d", got, handlerWrote, b)
	if b <= 0 || b > handlerWrote || b >= size {
		t.Fatalf("billed %d bytes; want 0 < billed <= %d (written) < %d (full size)", b, handlerWrote, size)
	}
	if b < got {
		t.Fatalf("billed %d < %d bytes the client received", b, got)
	}
}

func TestFirstRecordedSpaceWins(t *testing.T) {
	tr := &tracker{}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() { defer wg.Done(); recordSpace(tr, fmt.Sprint("did:key:", i)) }()
	}
	wg.Wait()
	first := tr.space
	if !strings.HasPrefix(first, "did:key:") {
		t.Fatalf("space %q after 50 recordings", first)
	}
	recordSpace(tr, "did:key:later")
	recordSpace(tr, "")
	if tr.space != first {
		t.Fatalf("space changed from %q to %q", first, tr.space)
	}
}

func TestDeriveFormat(t *testing.T) {
	cases := []struct {
		name, target, accept, contentType, want string
	}{
		{"html file", "/ipfs/x/index.html", "", "text/html", FormatUnixFS},
		{"json file served as a file", "/ipfs/x/data.json", "", "application/json", FormatUnixFS},
		{"car by content type", "/ipfs/x", "", "application/vnd.ipld.car; version=1; order=dfs", FormatCAR},
		{"raw by content type", "/ipfs/x", "", "application/vnd.ipld.raw", FormatRaw},
		{"tar by content type", "/ipfs/x", "", "application/x-tar", FormatTAR},
		{"dag-json rendering", "/ipfs/x", "", "application/vnd.ipld.dag-json", FormatCodec},
		{"json asked by format", "/ipfs/x?format=json", "", "application/json", FormatCodec},
		{"car asked, error text", "/ipfs/x?format=car", "", "text/plain; charset=utf-8", FormatCAR},
		{"raw asked by accept", "/ipfs/x", "application/vnd.ipld.raw", "text/plain", FormatRaw},
		{"dag-cbor asked by accept list", "/ipfs/x", "text/html, application/vnd.ipld.dag-cbor;q=0.9", "", FormatCodec},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", tc.target, nil)
		if tc.accept != "" {
			r.Header.Set("Accept", tc.accept)
		}
		if got := deriveFormat(r, tc.contentType); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestSplitContentPath(t *testing.T) {
	cases := []struct {
		host, target, cid, rest string
		ok                      bool
	}{
		{"gw", "/ipfs/bafy/a/b", "bafy", "/a/b", true},
		{"gw", "/ipfs/bafy", "bafy", "", true},
		{"gw", "/ipfs/", "", "", false},
		{"gw", "/healthz", "", "", false},
		{"gw", "/ipns/name/x", "name", "/x", true}, // names are content too
		{"bafy.ipfs.gw.example:8080", "/a.png", "bafy", "/a.png", true},
		{"k51key.ipns.gw.example:8080", "/a.png", "k51key", "/a.png", true}, // a name's subdomain
		{"site.example.org", "/a.png", "", "", false},                       // a DNSLink host: decided by the response
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", tc.target, nil)
		r.Host = tc.host
		cid, rest, ok := splitContentPath(r)
		if cid != tc.cid || rest != tc.rest || ok != tc.ok {
			t.Errorf("%s%s: got %q %q %v", tc.host, tc.target, cid, rest, ok)
		}
	}
}
