package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	ed25519 "github.com/storacha/go-ucanto/principal/ed25519/signer"
)

// The adversarial suite: hostile and unlucky clients against the binary.
// Each case failed on the code before the fix it guards (see issue 11).

// TestSlowBodiesLeaveHealthzAnswering: 1,000 clients that send headers
// announcing a body and then nothing. With a process held to 768 file
// descriptors, they used to exhaust them (no read timeout, no connection
// budget) and /healthz stopped answering for good. Now the server cuts
// each slow body at --read-timeout, refuses connections past its budget
// at once, and /healthz answers.
func TestSlowBodiesLeaveHealthzAnswering(t *testing.T) {
	if _, err := os.Stat("/usr/bin/prlimit"); err != nil {
		t.Fatal("this test needs prlimit (util-linux) to hold the server to a small descriptor limit")
	}
	srv := startWrapped(t, []string{"prlimit", "--nofile=768:768"}, "serve", t.TempDir(), "--read-timeout", "2s")
	addr := srv.url[len("http://"):]
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 1000; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			continue // the server may refuse some: that is the point
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "POST /claims HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.ipld.car\r\nContent-Length: 1000000\r\n\r\nx")
	}
	client := &http.Client{Timeout: 2 * time.Second}
	answered := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !answered; {
		resp, err := client.Get(srv.url + "/healthz")
		if err == nil {
			answered = resp.StatusCode == http.StatusOK
			resp.Body.Close()
		}
		if !answered {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !answered {
		t.Fatal("/healthz never answered while 1,000 clients held request bodies")
	}
	// Every slow body ends: the server closes (or refused) each connection.
	var open sync.WaitGroup
	stuck := make(chan int, len(conns))
	for i, c := range conns {
		open.Add(1)
		go func() {
			defer open.Done()
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, err := io.Copy(io.Discard, c)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				stuck <- i
			}
		}()
	}
	open.Wait()
	if n := len(stuck); n > 0 {
		t.Errorf("%d of %d slow-body connections were still open after 30 s", n, len(conns))
	}
}

// TestSlowReaderCutAndRequestLimit: a client that stops reading a large
// response is disconnected once a write waits past --write-timeout plus
// its size at --min-write-rate (it used to be held as long as it liked),
// and while it is in flight, a request past --max-concurrent-requests is
// answered 429 with Retry-After; /healthz still answers.
func TestSlowReaderCutAndRequestLimit(t *testing.T) {
	data := t.TempDir()
	src := filepath.Join(t.TempDir(), "big.bin")
	want := seeded(48<<20, 7)
	if err := os.WriteFile(src, want, 0o600); err != nil {
		t.Fatal(err)
	}
	root := importRoots(t, data, src)[0]
	srv := startServe(t, data, "--write-timeout", "500ms", "--min-write-rate", "1048576", "--max-concurrent-requests", "1")

	stalled, err := http.Get(srv.url + "/ipfs/" + root)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Body.Close()
	if stalled.StatusCode != http.StatusOK {
		t.Fatalf("status %d", stalled.StatusCode)
	}
	resp, body := fetch(t, "GET", srv.url+"/ipfs/"+root+"?second")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a request past --max-concurrent-requests: status %d, Retry-After %q, body %.80q; want 429 with Retry-After",
			resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if resp, _ := fetch(t, "GET", srv.url+"/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz answered %d while requests were limited", resp.StatusCode)
	}
	time.Sleep(5 * time.Second) // ten times the write timeout: the server gives up on the stalled reader
	got, err := io.ReadAll(stalled.Body)
	if err == nil && len(got) == len(want) {
		t.Errorf("a client that stopped reading for 5 s still got all %d bytes: slow readers are held", len(got))
	}
}

// TestSecretsStayPrivate: --key is masked in /debug/pprof/cmdline (it
// was shown in full); the public listener's /readyz says only "ready" or
// "not ready" (it named the indexer's URL; the details are on the
// operations listener); the data dir and the egress spool are readable by
// their owner alone (spool files were world-readable).
func TestSecretsStayPrivate(t *testing.T) {
	key, err := ed25519.Generate()
	if err != nil {
		t.Fatal(err)
	}
	keyText, err := ed25519.Format(key)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")
	src := filepath.Join(t.TempDir(), "hello.txt")
	os.WriteFile(src, []byte("hello"), 0o600)
	root := importRoots(t, data, "--key", keyText, src)[0]
	ops := freeAddr(t)
	srv := startServe(t, data, "--key", keyText, "--metrics-listen", ops)
	if resp, _ := fetch(t, "GET", srv.url+"/ipfs/"+root); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d", resp.StatusCode)
	}

	_, cmdline := fetch(t, "GET", "http://"+ops+"/debug/pprof/cmdline")
	if strings.Contains(string(cmdline), keyText) || !strings.Contains(string(cmdline), "***") {
		t.Errorf("/debug/pprof/cmdline shows the key: %q", cmdline)
	}
	if resp, body := fetch(t, "GET", srv.url+"/readyz"); resp.StatusCode != http.StatusOK || string(body) != "ready\n" {
		t.Errorf("public /readyz: %d %q, want 200 \"ready\\n\"", resp.StatusCode, body)
	}
	if _, body := fetch(t, "GET", "http://"+ops+"/readyz"); !strings.Contains(string(body), "status") {
		t.Errorf("operations /readyz lacks the detailed report: %q", body)
	}

	gw := startRole(t, "gateway", t.TempDir(), "--indexer-url", "http://127.0.0.1:1")
	resp, body := fetch(t, "GET", gw.url+"/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable || string(body) != "not ready\n" { // it named 127.0.0.1:1
		t.Errorf("gateway /readyz with its indexer down: %d %q, want 503 \"not ready\\n\"", resp.StatusCode, body)
	}

	srv.stop(t) // the spool is complete on disk
	if fi, err := os.Stat(data); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("data dir mode %v (%v), want owner-only", fi.Mode().Perm(), err)
	}
	spooled := 0
	filepath.WalkDir(filepath.Join(data, "egress"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err == nil && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v, want owner-only", p, fi.Mode().Perm())
		}
		if !d.IsDir() {
			spooled++
		}
		return nil
	})
	if spooled == 0 {
		t.Error("no egress spool file was written")
	}
}

// TestClientErrorsAre4xx: CIDs the gateway will never serve (insecure or
// too-short hashes, identity digests over 128 bytes) and a malformed Host
// on the indexer's /cid used to answer 500, with boxo's internal text;
// a 500 KB identity CID as ?format=car was sent back several times over.
// Now each is a 4xx with a short plain message.
func TestClientErrorsAre4xx(t *testing.T) {
	data := t.TempDir()
	src := filepath.Join(t.TempDir(), "f.txt")
	os.WriteFile(src, []byte("hostile"), 0o600)
	root := importRoots(t, data, src)[0]
	srv := startServe(t, data)
	sum := func(data []byte, code uint64, length int) string {
		h, err := mh.Sum(data, code, length)
		if err != nil {
			t.Fatal(err)
		}
		return cid.NewCidV1(cid.Raw, h).String()
	}
	cases := []struct{ name, cid string }{
		{"md5", sum([]byte("x"), mh.MD5, -1)},
		{"murmur3", sum([]byte("x"), mh.MURMUR3X64_64, -1)},
		{"sha2-256 cut to 16 bytes", sum([]byte("x"), mh.SHA2_256, 16)},
		{"identity of 200 bytes", sum(bytes.Repeat([]byte("a"), 200), mh.IDENTITY, -1)},
		{"identity of 500 KB", sum(make([]byte, 500<<10), mh.IDENTITY, -1)},
	}
	for _, c := range cases {
		for _, q := range []string{"", "?format=raw", "?format=car"} {
			resp, body := fetch(t, "GET", srv.url+"/ipfs/"+c.cid+q)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 || len(body) > 1024 || strings.Contains(string(body), "failed to resolve") {
				t.Errorf("%s%s: %d with %d bytes %.100q; want a 4xx with a short plain message", c.name, q, resp.StatusCode, len(body), body)
			}
		}
	}
	for _, host := range []string{"[::1", "x:99999", "a:b:c"} {
		resp, body := fetch(t, "GET", srv.url+"/cid/"+root, "Host", host)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("/cid with Host %q: %d %.100q, want 400", host, resp.StatusCode, body)
		}
	}
}

// tempFiles lists an import's temporary files in the data dir.
func tempFiles(t *testing.T, data string) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"staging-*", "shard-*.car"} {
		m, _ := filepath.Glob(filepath.Join(data, "tmp", pat))
		out = append(out, m...)
	}
	return out
}

// startImport starts `cargate import` of a large file and waits until it
// has temporary files on disk.
func startImport(t *testing.T, data string) *exec.Cmd {
	t.Helper()
	src := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(src, seeded(256<<20, 3), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binPath, "import", "--data-dir", data, "--quiet", src)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); len(tempFiles(t, data)) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the import made no temporary file; output:\n%s", out.String())
		}
	}
	return cmd
}

// TestKilledImportSwept: an import killed with SIGKILL leaves its
// temporary files; they used to stay for good. The next import removes
// them.
func TestKilledImportSwept(t *testing.T) {
	data := t.TempDir()
	cmd := startImport(t, data)
	cmd.Process.Kill()
	cmd.Wait()
	if len(tempFiles(t, data)) == 0 {
		t.Fatal("the killed import left no temporary file: the test proves nothing")
	}
	small := filepath.Join(t.TempDir(), "small.txt")
	os.WriteFile(small, []byte("after the crash"), 0o600)
	importRoots(t, data, small)
	if left := tempFiles(t, data); len(left) > 0 {
		t.Errorf("after the next import, the killed one's files remain: %v", left)
	}
}

// TestTerminatedImportStopsClean: SIGTERM during an import stops it (a
// generous bound: it must not run to the end of its input), removes its
// temporary files and publishes nothing.
func TestTerminatedImportStopsClean(t *testing.T) {
	data := t.TempDir()
	cmd := startImport(t, data)
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("an import stopped by SIGTERM exited 0, as if it had finished")
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("the import ran on for a minute after SIGTERM")
	}
	if left := tempFiles(t, data); len(left) > 0 {
		t.Errorf("SIGTERM left temporary files: %v", left)
	}
}

// TestRangesAgainstTheBinary: the Range cases of issue 11 against the
// binary (the package test checks every row against the file's bytes).
func TestRangesAgainstTheBinary(t *testing.T) {
	data := t.TempDir()
	want := seeded(50000, 5)
	src := filepath.Join(t.TempDir(), "f.bin")
	os.WriteFile(src, want, 0o600)
	root := importRoots(t, data, src)[0]
	srv := startServe(t, data)
	url := srv.url + "/ipfs/" + root
	cases := []struct {
		rng     string
		status  int
		maxBody int
	}{
		{"bytes=0-3,999999-", 206, 4},                             // the satisfiable part alone
		{"bytes=" + strings.Repeat("0-,", 15) + "0-", 206, 50000}, // once, not 16 times
		{"bytes=-60000", 206, 50000},                              // a suffix clamps
		{"bytes=-0", 416, 200},                                    // nothing asked
		{"bytes=60000-", 416, 200},                                // nothing inside
	}
	for _, c := range cases {
		resp, body := fetch(t, "GET", url, "Range", c.rng)
		if resp.StatusCode != c.status || len(body) > c.maxBody {
			t.Errorf("Range %.40s: %d with %d bytes, want %d with at most %d", c.rng, resp.StatusCode, len(body), c.status, c.maxBody)
		}
		if c.status == 206 && !bytes.Equal(body, want[:len(body)]) {
			t.Errorf("Range %.40s: the bytes differ from the file's start", c.rng)
		}
	}
}
