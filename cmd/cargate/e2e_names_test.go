package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/ipns"
	"github.com/ipfs/boxo/path"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// writeSite writes files (name -> content) under a new directory.
func writeSite(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// ipnsKey makes a new Ed25519 key and its IPNS name.
func ipnsKey(t *testing.T) (crypto.PrivKey, ipns.Name) {
	t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return sk, ipns.NameFromPeer(id)
}

// record signs a record of value with sk and returns its bytes.
func record(t *testing.T, sk crypto.PrivKey, value string, seq uint64, eol time.Time, ttl time.Duration) []byte {
	t.Helper()
	c, err := cid.Decode(value)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ipns.NewRecord(sk, path.FromCid(c), seq, eol, ttl)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ipns.MarshalRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func writeRecord(t *testing.T, dir, file string, raw []byte) string {
	t.Helper()
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNamesEndToEnd imports two sites and an IPNS record pointing at the
// first, serves the name on the path and subdomain gateways and a DNSLink
// name from the static map, refuses expired and badly signed records,
// and follows the name to the second site once a newer record is PUT.
func TestNamesEndToEnd(t *testing.T) {
	data := t.TempDir()
	roots := importRoots(t, data,
		writeSite(t, map[string]string{"index.html": "<h1>site A</h1>", "sub/file.txt": "file of A"}),
		writeSite(t, map[string]string{"index.html": "<h1>site B</h1>", "sub/file.txt": "file of B"}))
	rootA, rootB := roots[0], roots[1]
	sk, name := ipnsKey(t)
	other, _ := ipnsKey(t)
	recs := t.TempDir()
	good := record(t, sk, rootA, 1, time.Now().Add(time.Hour), time.Second)

	// The file name names the key (here with a note after "_", as the
	// conformance suite's fixtures are named).
	out, err := cargate(t, "import", "--data-dir", data, "--quiet", writeRecord(t, recs, name.String()+"_v2.ipns-record", good))
	if err != nil || strings.TrimSpace(out) != "/ipns/"+name.String() {
		t.Fatalf("import record: %q, %v", out, err)
	}
	// Refused at import: expired, signed by another key, tampered with.
	tampered := bytes.Clone(good)
	tampered[len(tampered)-5] ^= 0xff
	for label, raw := range map[string][]byte{
		"expired":        record(t, sk, rootB, 5, time.Now().Add(-time.Minute), time.Second),
		"other key":      record(t, other, rootB, 5, time.Now().Add(time.Hour), time.Second),
		"tampered bytes": tampered,
	} {
		p := writeRecord(t, recs, name.String()+".ipns-record", raw)
		if _, err := cargate(t, "import", "--data-dir", data, "--quiet", p); err == nil || !strings.Contains(err.Error(), "invalid IPNS record") {
			t.Errorf("%s record: import err %v, want an invalid record error", label, err)
		}
	}

	pinned := filepath.Join(t.TempDir(), "dnslink.txt")
	os.WriteFile(pinned, []byte("# pinned names\npinned.example.org=/ipfs/"+rootB+"\nsite.example.org=/ipfs/"+rootB+"\n"), 0o644)
	s := startServe(t, data, "--subdomain-hosts", "localhost,example.com", "--dnslink-file", pinned,
		"--dnslink", "site.example.org="+"/ipfs/"+rootA, "--dnslink-dns=false") // the flag wins over the file

	// Path gateway: the name resolves to site A, mutable (never immutable).
	resp, body := fetch(t, "GET", s.url+"/ipns/"+name.String()+"/sub/file.txt")
	if resp.StatusCode != 200 || string(body) != "file of A" {
		t.Fatalf("/ipns/name/sub/file.txt: %d %q", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); strings.Contains(cc, "immutable") {
		t.Errorf("/ipns/ response Cache-Control %q: a name's answer is mutable", cc)
	}
	checkHeader(t, resp, "Access-Control-Allow-Origin", "*")
	// Subdomain gateway: <name>.ipns.<host>.
	resp, body = fetch(t, "GET", s.url+"/", "Host", name.String()+".ipns.example.com")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "site A") {
		t.Errorf("subdomain %s.ipns.example.com: %d %q", name, resp.StatusCode, body)
	}
	// The record itself, as the trustless gateway serves it.
	resp, body = fetch(t, "GET", s.url+"/ipns/"+name.String()+"?format=ipns-record")
	if resp.StatusCode != 200 || !bytes.Equal(body, good) {
		t.Errorf("?format=ipns-record: %d, %d bytes (want the imported record)", resp.StatusCode, len(body))
	}
	// DNSLink from the static map: as a host and as a path.
	resp, body = fetch(t, "GET", s.url+"/sub/file.txt", "Host", "site.example.org")
	if resp.StatusCode != 200 || string(body) != "file of A" {
		t.Errorf("DNSLink host: %d %q", resp.StatusCode, body)
	}
	resp, body = fetch(t, "GET", s.url+"/sub/file.txt", "Host", "pinned.example.org")
	if resp.StatusCode != 200 || string(body) != "file of B" {
		t.Errorf("DNSLink host from --dnslink-file: %d %q", resp.StatusCode, body)
	}
	resp, body = fetch(t, "GET", s.url+"/ipns/site.example.org/index.html")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "site A") {
		t.Errorf("/ipns/<dnslink name>: %d %q", resp.StatusCode, body)
	}
	_, unknown := ipnsKey(t)
	// No DNSLink for a domain: 404. No valid record for a key: 5xx, as the
	// spec wants (a record may exist where this gateway cannot see it).
	for p, code := range map[string]int{"/ipns/unknown.example.org/": 404, "/ipns/" + unknown.String() + "/": 502} {
		if resp, _ = fetch(t, "GET", s.url+p); resp.StatusCode != code {
			t.Errorf("%s: %d, want %d", p, resp.StatusCode, code)
		}
	}

	// Through the indexer's routing v1 API: bad records are refused and
	// change nothing; a newer one is kept and served once the old
	// resolution's TTL (1s) is over.
	put := func(raw []byte) int {
		req, _ := http.NewRequest("PUT", s.url+"/routing/v1/ipns/"+name.String(), bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/vnd.ipfs.ipns-record")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := put(record(t, other, rootB, 9, time.Now().Add(time.Hour), time.Second)); code != 400 {
		t.Errorf("PUT of a record signed by another key: %d, want 400", code)
	}
	if code := put(record(t, sk, rootB, 9, time.Now().Add(-time.Second), time.Second)); code != 400 {
		t.Errorf("PUT of an expired record: %d, want 400", code)
	}
	resp, body = fetch(t, "GET", s.url+"/routing/v1/ipns/"+name.String(), "Accept", "application/vnd.ipfs.ipns-record")
	if resp.StatusCode != 200 || !bytes.Equal(body, good) {
		t.Fatalf("GET routing record after refused PUTs: %d, %d bytes (want the first record)", resp.StatusCode, len(body))
	}
	newer := record(t, sk, rootB, 2, time.Now().Add(time.Hour), time.Second)
	if code := put(newer); code != 200 {
		t.Fatalf("PUT of a newer record: %d", code)
	}
	if code := put(good); code != 200 { // older: accepted, not kept
		t.Errorf("PUT of the older record again: %d", code)
	}
	resp, body = fetch(t, "GET", s.url+"/routing/v1/ipns/"+name.String(), "Accept", "application/vnd.ipfs.ipns-record")
	if resp.StatusCode != 200 || !bytes.Equal(body, newer) {
		t.Errorf("GET routing record: %d, want the newer record kept", resp.StatusCode)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, body = fetch(t, "GET", s.url+"/ipns/"+name.String()+"/sub/file.txt")
		if string(body) == "file of B" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ipns/name still answers %d %q, want site B after the newer record", resp.StatusCode, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestConnectTunnel uses the gateway as an HTTP proxy the way curl and
// browsers do for subdomain gateways: CONNECT, then a subdomain request
// through the tunnel, on one connection.
func TestConnectTunnel(t *testing.T) {
	data := t.TempDir()
	root := importRoots(t, data, writeSite(t, map[string]string{"hello.txt": "hello tunnel"}))[0]
	s := startServe(t, data, "--subdomain-hosts", "example.com")
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(s.url, "http://"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	conn.Write([]byte("CONNECT example.com:80 HTTP/1.1\r\nHost: example.com:80\r\n\r\n"))
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	c, _ := cid.Decode(root)
	conn.Write([]byte("GET /hello.txt HTTP/1.1\r\nHost: " + cid.NewCidV1(c.Type(), c.Hash()).String() + ".ipfs.example.com\r\n\r\n"))
	resp, err = http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != 200 || buf.String() != "hello tunnel" {
		t.Errorf("GET through the tunnel: %d %q", resp.StatusCode, buf.String())
	}
}

// TestNamesThroughIndexer runs the roles apart: a record is imported
// through the running indexer (PUT /routing/v1/ipns/{name}), and a
// gateway-only process, which keeps no records, finds it there.
func TestNamesThroughIndexer(t *testing.T) {
	data := t.TempDir()
	root := importRoots(t, data, writeSite(t, map[string]string{"a.txt": "apart"}))[0]
	idx := startRole(t, "indexer", data)
	sk, name := ipnsKey(t)
	p := writeRecord(t, t.TempDir(), name.String()+".ipns-record", record(t, sk, root, 1, time.Now().Add(time.Hour), time.Minute))
	if out, err := cargate(t, "import", "--data-dir", t.TempDir(), "--indexer-url", idx.url, "--quiet", p); err != nil || strings.TrimSpace(out) != "/ipns/"+name.String() {
		t.Fatalf("import through the indexer: %q %v", out, err)
	}
	other, _ := ipnsKey(t)
	bad := writeRecord(t, t.TempDir(), name.String()+".ipns-record", record(t, other, root, 2, time.Now().Add(time.Hour), time.Minute))
	if _, err := cargate(t, "import", "--data-dir", t.TempDir(), "--indexer-url", idx.url, "--quiet", bad); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("a badly signed record through the indexer: %v, want refused with 400", err)
	}
	gw := startRole(t, "gateway", data, "--indexer-url", idx.url, "--dnslink-dns=false")
	resp, body := fetch(t, "GET", gw.url+"/ipns/"+name.String()+"/a.txt")
	if resp.StatusCode != 200 || string(body) != "apart" {
		t.Errorf("gateway-only /ipns/: %d %q", resp.StatusCode, body)
	}
}

// TestEgressForNames bills the bytes served through a name (path and
// subdomain forms of an IPNS name, a DNSLink website) to the space of the
// content, as for /ipfs/: a name must not be a way around accounting.
func TestEgressForNames(t *testing.T) {
	const space = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	data := t.TempDir()
	root := importRoots(t, data, "--space", space, writeSite(t, map[string]string{"f.txt": strings.Repeat("billed ", 5000)}))[0]
	sk, name := ipnsKey(t)
	importRoots(t, data, writeRecord(t, t.TempDir(), name.String()+".ipns-record", record(t, sk, root, 1, time.Now().Add(time.Hour), time.Minute)))
	s := startServe(t, data, "--subdomain-hosts", "example.com", "--dnslink", "site.example.org=/ipfs/"+root, "--dnslink-dns=false")
	sent := 0
	for _, rq := range []struct{ host, path string }{
		{"", "/ipns/" + name.String() + "/f.txt"},
		{name.String() + ".ipns.example.com", "/f.txt"},
		{"site.example.org", "/f.txt"},
	} {
		var hdr []string
		if rq.host != "" {
			hdr = []string{"Host", rq.host}
		}
		resp, body := fetch(t, "GET", s.url+rq.path, hdr...)
		if resp.StatusCode != 200 || len(body) != 35000 {
			t.Fatalf("%s%s: %d, %d bytes", rq.host, rq.path, resp.StatusCode, len(body))
		}
		sent += len(body)
	}
	s.stop(t)
	if _, err := cargate(t, "egress", "consume", "--data-dir", data, "--once"); err != nil {
		t.Fatalf("consume: %v", err)
	}
	out, err := cargate(t, "egress", "report", "--data-dir", data, "--space", space)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	if !strings.Contains(out, strconv.Itoa(sent)+"  3") {
		t.Fatalf("report does not bill %s the %d bytes of 3 responses through names:\n%s", space, sent, out)
	}
}
