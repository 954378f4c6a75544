package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"

	"github.com/cargate/cargate/internal/testbin"
)

// binPath is the cargate binary shared by this package's tests.
var binPath string

func TestMain(m *testing.M) {
	var err error
	if binPath, err = testbin.Path(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// cargate runs the binary and returns its stdout; stderr goes into the error.
func cargate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, stderr.String())
	}
	return stdout.String(), nil
}

// importRoots imports paths into dataDir and returns the printed roots.
func importRoots(t *testing.T, dataDir string, args ...string) []string {
	t.Helper()
	out, err := cargate(t, append([]string{"import", "--data-dir", dataDir, "--quiet"}, args...)...)
	if err != nil {
		t.Fatalf("import %v: %v", args, err)
	}
	return strings.Fields(out)
}

type server struct {
	url string
	cmd *exec.Cmd
	log *lockedBuffer
}

// lockedBuffer is a child's output: written by exec's copying goroutine
// while the test reads it (a failing test prints it while the child runs).
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe starts `cargate serve` on free ports and waits for /healthz.
func startServe(t *testing.T, dataDir string, extra ...string) *server {
	t.Helper()
	return startRole(t, "serve", dataDir, extra...)
}

// startRole starts a serving command (serve, indexer, gateway) on free
// ports and waits for /healthz.
func startRole(t *testing.T, role, dataDir string, extra ...string) *server {
	t.Helper()
	return startWrapped(t, nil, role, dataDir, extra...)
}

// startWrapped is startRole with the binary run by a wrapper command
// (for example prlimit) that execs it.
func startWrapped(t *testing.T, wrapper []string, role, dataDir string, extra ...string) *server {
	t.Helper()
	addr := freeAddr(t)
	args := append([]string{role, "--data-dir", dataDir, "--listen", addr, "--metrics-listen", freeAddr(t), "--log-format", "json"}, extra...)
	argv := append(append(append([]string(nil), wrapper...), binPath), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	logBuf := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logBuf, logBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{url: "http://" + addr, cmd: cmd, log: logBuf}
	t.Cleanup(func() { s.stop(t) })
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("cargate %s did not become healthy; log:\n%s", role, logBuf)
	return nil
}

func (s *server) stop(t *testing.T) {
	if s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
		t.Errorf("cargate serve did not stop on SIGINT")
	}
}

// fetch does a request and returns the response with its whole body.
func fetch(t *testing.T, method, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, body
}

// writeCAR writes blocks (cid, data pairs) as a CARv1 file with roots.
func writeCAR(t *testing.T, path string, roots []cid.Cid, blks ...rawBlock) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := storage.NewWritable(f, roots, carV1())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blks {
		if err := w.Put(context.Background(), b.c.KeyString(), b.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finalize(); err != nil {
		t.Fatal(err)
	}
}

type rawBlock struct {
	c    cid.Cid
	data []byte
}

func carV1() carv2.Option { return carv2.WriteAsCarV1(true) }

// readAllLimit reads a body to its end, returning the read error.
func readAllLimit(resp *http.Response) ([]byte, error) {
	var buf bytes.Buffer
	_, err := io.Copy(&buf, io.LimitReader(resp.Body, 64<<20))
	return buf.Bytes(), err
}
