package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cargate/cargate/internal/testbin"
)

// buildBinary returns the cargate binary shared by the tests.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin, err := testbin.Path()
	if err != nil {
		t.Fatal(err)
	}
	return bin
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

// start runs the binary until the test ends (SIGTERM, then wait), and
// waits for GET /healthz on addr.
func start(t *testing.T, bin, addr string, args ...string) {
	t.Helper()
	var logs bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s logs:\n%s", args[0], logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not become healthy on %s:\n%s", args[0], addr, logs.String())
}

// A gateway started with --indexer-url serves, byte for byte, content
// imported into a separate indexer process.
func TestGatewayThroughSeparateIndexer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	data, src := t.TempDir(), t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	files := map[string][]byte{}
	for i, size := range []int{7, 70_000, 2_500_000} {
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		name := fmt.Sprintf("f%d.bin", i)
		files[name] = b
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(bin, "import", "--data-dir", data, "--quiet", "--shard-size", "1048576", src).Output()
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	root := strings.TrimSpace(string(out))

	ixAddr, gwAddr := freeAddr(t), freeAddr(t)
	start(t, bin, ixAddr, "indexer", "--data-dir", data, "--listen", ixAddr, "--metrics-listen", "", "--log-format", "text")
	start(t, bin, gwAddr, "gateway", "--data-dir", data, "--listen", gwAddr, "--metrics-listen", "",
		"--indexer-url", "http://"+ixAddr, "--log-format", "text")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, want := range files {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+gwAddr+"/ipfs/"+root+"/"+name, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, want) {
			t.Fatalf("%s: status %d, %d bytes, want 200 and %d identical bytes", name, resp.StatusCode, len(got), len(want))
		}
	}
	resp, err := http.Get("http://" + ixAddr + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("indexer /readyz: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}
