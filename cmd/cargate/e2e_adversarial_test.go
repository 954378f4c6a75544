package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/go-cid"
	ipldformat "github.com/ipfs/go-ipld-format"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/multiformats/go-multihash"
	ed25519 "github.com/storacha/go-ucanto/principal/ed25519/signer"

	"github.com/cargate/cargate/internal/faultproxy"
)

// The adversarial suite, part two (part one is e2e_hostile_test.go): the
// bullets of issue 11 that were covered by package tests alone, now
// against the binary. Each failed on the code before its fix.

// blockOf hashes data as a block of codec.
func blockOf(codec uint64, data []byte) rawBlock {
	mh, _ := multihash.Sum(data, multihash.SHA2_256, -1)
	return rawBlock{c: cid.NewCidV1(codec, mh), data: data}
}

// TestUndecodableBlocksAre4xx: blocks the IPLD decoders refuse (nested
// deeper than their 1,024-level limit, or a dag-cbor list that exceeds
// their allocation budget) used to answer 500 when a path or a page
// needed them decoded, and a CAR of them was cut off with no status
// line. They are the content's fault, not the gateway's: each is a 422
// with a short plain message, and the block itself is still served as
// raw bytes.
func TestUndecodableBlocksAre4xx(t *testing.T) {
	const depth = 5000
	wide := make([]byte, 5, 5+3_000_000) // a list of 3 million empty lists
	wide[0] = 0x9a
	binary.BigEndian.PutUint32(wide[1:], 3_000_000)
	wide = append(wide, bytes.Repeat([]byte{0x80}, 3_000_000)...)
	blocks := map[string]rawBlock{
		"deep dag-cbor": blockOf(cid.DagCBOR, append(bytes.Repeat([]byte{0x81}, depth), 0x00)),
		"deep dag-json": blockOf(cid.DagJSON, []byte(strings.Repeat("[", depth)+"0"+strings.Repeat("]", depth))),
		"wide dag-cbor": blockOf(cid.DagCBOR, wide),
	}
	var roots []cid.Cid
	var all []rawBlock
	for _, b := range blocks {
		roots = append(roots, b.c)
		all = append(all, b)
	}
	car := filepath.Join(t.TempDir(), "undecodable.car")
	writeCAR(t, car, roots, all...)
	data := t.TempDir()
	if got := importRoots(t, data, car); len(got) != len(roots) {
		t.Fatalf("import printed %d roots, want %d", len(got), len(roots))
	}
	s := startServe(t, data)
	for name, b := range blocks {
		url := s.url + "/ipfs/" + b.c.String()
		if resp, body := fetch(t, "GET", url+"?format=raw"); resp.StatusCode != 200 || !bytes.Equal(body, b.data) {
			t.Errorf("%s as raw: %d with %d bytes, want 200 with the block", name, resp.StatusCode, len(body))
		}
		for _, q := range []string{"", "/0", "?format=car", "?format=car&dag-scope=block", "?format=car&dag-scope=entity"} {
			for _, accept := range []string{"", "text/html"} {
				req, _ := http.NewRequest("GET", url+q, nil)
				if accept != "" {
					req.Header.Set("Accept", accept)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Errorf("%s%s (Accept %q): no answer: %v", name, q, accept, err)
					continue
				}
				body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
				resp.Body.Close()
				// A browser gets boxo's error page, as for any 4xx; it must
				// still carry the plain message and no internal text.
				short := accept != "" || len(body) < 300
				if resp.StatusCode != http.StatusUnprocessableEntity || err != nil || !short ||
					!strings.Contains(string(body), "cannot be decoded") || strings.Contains(string(body), "message structure") {
					t.Errorf("%s%s (Accept %q): %d, %d bytes %.120q, err %v; want 422 with a short plain message", name, q, accept, resp.StatusCode, len(body), body, err)
				}
			}
		}
	}
	if resp, _ := fetch(t, "GET", s.url+"/healthz"); resp.StatusCode != 200 {
		t.Errorf("/healthz %d", resp.StatusCode)
	}
	if t.Failed() {
		t.Logf("log:\n%s", s.log)
	}
}

// proxiedGateway imports files (name → bytes, in one directory) into a
// blob directory published over HTTP behind a fault-injecting proxy, and
// starts the scaled-out shape over it: an indexer, and a stateless
// gateway that reads every shard through the proxy. It returns the
// gateway, the proxy and the directory's root CID.
func proxiedGateway(t *testing.T, files map[string][]byte, gatewayFlags ...string) (*server, *faultproxy.Proxy, string) {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	data := t.TempDir()
	blobs := filepath.Join(data, "blobs")
	if err := os.MkdirAll(blobs, 0o700); err != nil {
		t.Fatal(err)
	}
	origin := httptest.NewServer(http.FileServer(http.Dir(blobs)))
	t.Cleanup(origin.Close)
	proxy := faultproxy.New(origin.URL)
	t.Cleanup(proxy.Close)
	spec := fmt.Sprintf("file://%s?public-url=%s", blobs, proxy.URL())
	root := importRoots(t, data, "--blob-store", spec, "--shard-size", "4194304", dir)[0]
	idx := startRole(t, "indexer", data, "--blob-store", spec)
	gw := startRole(t, "gateway", t.TempDir(), append([]string{"--indexer-url", idx.url, "--fetch-allow", "127.0.0.1"}, gatewayFlags...)...)
	return gw, proxy, root
}

// carFileBytes checks a CAR of a UnixFS file: every block matches its
// CID, and its raw leaves, in order, are the file.
func carFileBytes(t *testing.T, car []byte) []byte {
	t.Helper()
	br, err := carv2.NewBlockReader(bytes.NewReader(car))
	if err != nil {
		t.Fatalf("not a CAR: %v", err)
	}
	var file []byte
	for {
		b, err := br.Next()
		if errors.Is(err, io.EOF) {
			return file
		}
		if err != nil {
			t.Fatalf("CAR section: %v", err)
		}
		got, err := b.Cid().Prefix().Sum(b.RawData())
		if err != nil || !got.Equals(b.Cid()) {
			t.Fatalf("CAR block %s does not match its CID", b.Cid())
		}
		if b.Cid().Type() == cid.Raw {
			file = append(file, b.RawData()...)
		}
	}
}

// TestStalledCARAbortedOverTheBinary: a gateway reads a file's shards
// over HTTP; storage stalls in the middle of a ?format=car response,
// past --retrieval-timeout. The client sees the connection break (it
// used to get a clean chunked 200 ending in boxo's "Response truncated"
// text), and the next request, with storage answering again, gets the
// whole verified CAR: nothing of the stalled one was kept.
func TestStalledCARAbortedOverTheBinary(t *testing.T) {
	want := seeded(10<<20+777, 21)
	gw, proxy, root := proxiedGateway(t, map[string][]byte{"f.bin": want}, "--retrieval-timeout", "1s")
	url := gw.url + "/ipfs/" + root + "/f.bin?format=car"

	// Resolve the path first, so the stall hits the file's leaves.
	if resp, _ := fetch(t, "GET", gw.url+"/ipfs/"+root+"/f.bin?format=raw"); resp.StatusCode != 200 {
		t.Fatalf("the file's root block: %d", resp.StatusCode)
	}
	proxy.StallAfter(2<<20, time.Minute) // ends when the gateway hangs up
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("no status line: %v (the status must be sent before the stall)", err)
	}
	body, readErr := readAllLimit(resp)
	resp.Body.Close()
	if readErr == nil {
		t.Errorf("the stalled CAR ended cleanly: status %d, %d bytes, tail %q", resp.StatusCode, len(body), body[max(0, len(body)-100):])
	}
	if bytes.Contains(body, []byte("Gateway Error")) {
		t.Errorf("boxo's error text was sent inside the CAR body")
	}
	if len(body) == 0 {
		t.Errorf("nothing was sent before the stall: the test did not stall mid-stream")
	}

	proxy.Clear()
	before := proxy.Requests()
	resp, full := fetch(t, "GET", url)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the stall: status %d", resp.StatusCode)
	}
	if got := carFileBytes(t, full); !bytes.Equal(got, want) {
		t.Errorf("after the stall: the CAR holds %d file bytes, want the %d of the file", len(got), len(want))
	}
	if proxy.Requests() == before {
		t.Errorf("the request after the stall read no storage: answered from what the stalled one left")
	}
	if t.Failed() {
		t.Logf("gateway log:\n%s", gw.log)
	}
}

// TestOneHangUpLeavesTheOthersServed: clients ask at once for the same
// content, not yet cached, from slow storage; the first to ask (whose
// request started the shared load) hangs up early. The others all get
// 200 with the right bytes (they used to get a 500: the shared load ran
// under the first caller's context).
func TestOneHangUpLeavesTheOthersServed(t *testing.T) {
	want := seeded(6<<20+4321, 22)
	gw, proxy, root := proxiedGateway(t, map[string][]byte{"f.bin": want})
	url := gw.url + "/ipfs/" + root + "/f.bin"
	// Nothing is cached: the first request's lookup of where the content
	// is (the index blob, read through the proxy) is what the others join.
	proxy.StallAfter(0, 3*time.Second) // every storage read is slow

	ctx, hangUp := context.WithCancel(context.Background())
	defer hangUp()
	first := make(chan error, 1)
	before := proxy.Requests()
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		first <- err
	}()
	for deadline := time.Now().Add(30 * time.Second); proxy.Requests() == before; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first client's request never reached storage")
		}
	}
	const others = 6
	type result struct {
		code int
		body []byte
		err  error
	}
	results := make(chan result, others)
	for range others {
		go func() {
			resp, err := http.Get(url)
			if err != nil {
				results <- result{err: err}
				return
			}
			body, err := readAllLimit(resp)
			resp.Body.Close()
			results <- result{resp.StatusCode, body, err}
		}()
	}
	time.Sleep(300 * time.Millisecond) // the others join the load while it is slow
	hangUp()
	if err := <-first; err == nil {
		t.Log("the first client finished before it hung up; the test may not have exercised a hang-up")
	}
	for range others {
		select {
		case r := <-results:
			if r.err != nil || r.code != 200 || !bytes.Equal(r.body, want) {
				t.Errorf("another client: status %d, %d of %d bytes, err %v, body %.80q", r.code, len(r.body), len(want), r.err, r.body)
			}
		case <-time.After(2 * time.Minute):
			t.Fatal("a client got no answer in two minutes")
		}
	}
	if t.Failed() {
		t.Logf("gateway log:\n%s", gw.log)
	}
}

// tinyFS mounts a tmpfs of size (mount's syntax, "16m") and unmounts it
// when the test ends. It needs root (CAP_SYS_ADMIN); without it the test
// is skipped, except in CI, where it fails.
func tinyFS(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot mount a tmpfs (this test needs root): %v: %s", err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillFS writes a file into dir until its filesystem is full.
func fillFS(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v, want ENOSPC", dir, err)
			}
			break
		}
	}
	for _, n := range []int{4096, 1} { // the last partial blocks
		for {
			if _, err := f.Write(chunk[:n]); err != nil {
				break
			}
		}
	}
}

// TestFullDiskClaimsAre503: a running `cargate serve` whose data dir is
// on a full filesystem is sent claims (an import through --indexer-url,
// with the node's delegation). The POST /claims answers 503 and the
// process lives: /healthz answers after (pebble used to call os.Exit
// from the write, and the gateway died with it).
func TestFullDiskClaimsAre503(t *testing.T) {
	mnt := tinyFS(t, "32m")
	data := filepath.Join(mnt, "data")
	agent, _ := ed25519.Generate()
	keyText, _ := ed25519.Format(agent)
	keyFile := filepath.Join(t.TempDir(), "writer.key")
	os.WriteFile(keyFile, []byte(keyText+"\n"), 0o600)
	proof, err := cargate(t, "delegate", "--data-dir", data, "--audience", agent.DID().String(), "--can", "claim/cache")
	if err != nil {
		t.Fatal(err)
	}
	proofFile := filepath.Join(t.TempDir(), "proof.txt")
	os.WriteFile(proofFile, []byte(proof), 0o600)
	srv := startServe(t, data)

	fillFS(t, mnt)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("claims for a full disk"), 0o600)
	out, err := cargate(t, "import", "--data-dir", t.TempDir(), "--blob-store", t.TempDir(), "--key-file", keyFile,
		"--proof", proofFile, "--indexer-url", srv.url, "--quiet", src)
	if err == nil {
		t.Errorf("an import into a node with a full disk succeeded: %q", out)
	} else if !strings.Contains(err.Error(), "503") {
		t.Errorf("import into a node with a full disk: %v, want the indexer's 503", err)
	}
	if err := srv.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the node died on a full disk: %v; log:\n%s", err, srv.log)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(srv.url + "/healthz")
	if err != nil {
		t.Fatalf("/healthz after the full disk: %v; log:\n%s", err, srv.log)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz after the full disk: %d", resp.StatusCode)
	}
	if t.Failed() {
		t.Logf("log:\n%s", srv.log)
	}
}

// egressReport drains data's spool (after its server stopped) and
// returns `cargate egress report --space space`.
func egressReport(t *testing.T, data, space string) string {
	t.Helper()
	if _, err := cargate(t, "egress", "consume", "--data-dir", data, "--once"); err != nil {
		t.Fatalf("egress consume: %v", err)
	}
	out, err := cargate(t, "egress", "report", "--data-dir", data, "--space", space)
	if err != nil {
		t.Fatalf("egress report: %v", err)
	}
	return out
}

// TestLongPathBilledOverTheBinary: a 50 MiB file behind a path over
// 1 MiB (a chain of UnixFS directories with 64 KiB names) is served and
// billed. Its event used to
// be too large for the spool and was dropped: the 50 MiB went unbilled.
func TestLongPathBilledOverTheBinary(t *testing.T) {
	const space = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	want := seeded(50<<20, 23)
	src := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(src, want, 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	file, err := cid.Decode(importRoots(t, data, "--space", space, src)[0])
	if err != nil {
		t.Fatal(err)
	}
	// Sixteen directories, each holding the next under a 65,700-byte
	// name: a path past 1 MiB, in a request line net/http still takes
	// (1 MiB of headers and 4 KiB of slack).
	var names []string
	for i := range 16 {
		names = append(names, string(rune('a'+i))+strings.Repeat("x", 65699))
	}
	child := file
	var dirs []rawBlock
	for i := len(names) - 1; i >= 0; i-- {
		nd := unixfs.EmptyDirNode()
		nd.SetCidBuilder(cid.V1Builder{Codec: cid.DagProtobuf, MhType: multihash.SHA2_256})
		if err := nd.AddRawLink(names[i], &ipldformat.Link{Cid: child}); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, rawBlock{c: nd.Cid(), data: nd.RawData()})
		child = nd.Cid()
	}
	car := filepath.Join(t.TempDir(), "dirs.car")
	writeCAR(t, car, []cid.Cid{child}, dirs...)
	importRoots(t, data, "--space", space, car)
	path := "/ipfs/" + child.String() + "/" + strings.Join(names, "/")
	if len(path) <= 1<<20 {
		t.Fatalf("the path is %d bytes, want more than 1 MiB", len(path))
	}

	s := startServe(t, data)
	resp, err := http.Get(s.url + path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAllLimit(resp)
	resp.Body.Close()
	if resp.StatusCode != 200 || err != nil || !bytes.Equal(got, want) {
		t.Fatalf("behind the long path: status %d, %d of %d bytes, err %v", resp.StatusCode, len(got), len(want), err)
	}
	s.stop(t)
	if out := egressReport(t, data, space); !strings.Contains(out, strconv.Itoa(len(want))+"  1") {
		t.Errorf("the %d bytes served behind a %d-byte path were not billed:\n%s\nlog:\n%s", len(want), len(path), out, s.log)
	}
}

// TestFloodLeavesOthersBilledOverTheBinary: one client address
// (127.0.0.1) floods a node whose spool holds 32 MiB (the least it
// takes) with 1,000 HEADs behind 64 KiB paths, then 2,000 behind short
// ones; another address (127.0.0.2) is then served a file. The other's
// event is billed (the flood used to fill the spool, and every event
// after it was dropped), and the flood's events are shed and counted.
func TestFloodLeavesOthersBilledOverTheBinary(t *testing.T) {
	const space = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	const floodSpace = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"
	want := seeded(100_000, 24)
	src := filepath.Join(t.TempDir(), "f.bin")
	os.WriteFile(src, want, 0o600)
	flooded := t.TempDir()
	os.WriteFile(filepath.Join(flooded, "x.txt"), []byte("flooded"), 0o600)
	data := t.TempDir()
	root := importRoots(t, data, "--space", space, src)[0]
	floodRoot := importRoots(t, data, "--space", floodSpace, flooded)[0]
	ops := freeAddr(t)
	s := startServe(t, data, "--egress-spool-max-bytes", "33554432", "--metrics-listen", ops)

	flooder := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	long := s.url + "/ipfs/" + floodRoot + "/" + strings.Repeat("f", 64<<10)
	for i := range 3000 {
		u := long
		if i >= 1000 {
			u = s.url + "/ipfs/" + floodRoot + "/y" // small ones fill what the large ones left
		}
		resp, err := flooder.Head(u)
		if err != nil {
			t.Fatalf("flood HEAD %d: %v", i, err)
		}
		resp.Body.Close()
	}
	other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")},
	}).DialContext}}
	resp, err := other.Get(s.url + "/ipfs/" + root)
	if err != nil {
		t.Fatalf("the other client (from 127.0.0.2): %v", err)
	}
	got, err := readAllLimit(resp)
	resp.Body.Close()
	if resp.StatusCode != 200 || err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the other client: status %d, %d bytes, err %v", resp.StatusCode, len(got), err)
	}
	_, metrics := fetch(t, "GET", "http://"+ops+"/metrics")
	if !regexp.MustCompile(`(?m)^cargate_egress_events_shed_total [1-9]`).Match(metrics) {
		t.Errorf("the flood's events were not counted as shed")
	}
	s.stop(t)
	if out := egressReport(t, data, space); !strings.Contains(out, strconv.Itoa(len(want))+"  1") {
		t.Errorf("after one address flooded, the other's %d bytes were not billed:\n%s\nlog:\n%.3000s", len(want), out, s.log)
	}
}

// TestCARWithTooManyRootsRefused: each root of an imported CAR is given
// an index of every block, so a header naming 200,000 roots once held an
// import for 770 s and 3 GB (past SIGTERM). A CAR naming more than 256
// roots is now refused at once with a plain message, and nothing of it
// is published; 256 roots are taken.
func TestCARWithTooManyRootsRefused(t *testing.T) {
	blk := blockOf(cid.Raw, []byte("one block, many roots"))
	rootsOf := func(n int) []cid.Cid {
		roots := make([]cid.Cid, n)
		for i := range roots {
			roots[i] = blockOf(cid.Raw, []byte(strconv.Itoa(i))).c
		}
		roots[0] = blk.c
		return roots
	}
	data := t.TempDir()
	many := filepath.Join(t.TempDir(), "many.car")
	writeCAR(t, many, rootsOf(20_000), blk)
	cmd := exec.Command(binPath, "import", "--data-dir", data, "--quiet", many)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(out.String(), "256") {
			t.Errorf("a CAR with 20,000 roots: err %v, output %.300q; want a refusal naming the limit of 256", err, out.String())
		}
	case <-time.After(2 * time.Minute): // a hang guard: the refusal needs no work
		cmd.Process.Kill()
		<-done
		t.Fatal("the import of a CAR with 20,000 roots ran for two minutes")
	}
	s := startServe(t, data)
	if resp, _ := fetch(t, "GET", s.url+"/ipfs/"+blk.c.String()+"?format=raw"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the refused CAR's block: %d, want 404 (nothing of it published)", resp.StatusCode)
	}
	s.stop(t)

	ok := filepath.Join(t.TempDir(), "ok.car")
	writeCAR(t, ok, rootsOf(256), blk)
	if got := importRoots(t, data, ok); len(got) != 256 {
		t.Errorf("a CAR with 256 roots: %d roots printed, want 256", len(got))
	}
}
