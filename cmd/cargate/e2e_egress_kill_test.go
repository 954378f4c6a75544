package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestEgressSurvivesSIGKILL kills `cargate serve` with SIGKILL under load,
// restarts it on the same data dir, and checks that every response a
// client received in full is counted, once. Responses cut by the kill may
// be counted too (the server wrote them; the client did not finish
// reading), never more than the requests that were in flight.
func TestEgressSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	const files = 50
	for i := 0; i < files; i++ {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d.bin", i)), seeded(20000+i, uint64(i)), 0o644)
	}
	data := t.TempDir()
	root := importRoots(t, data, dir)[0]
	s := startServe(t, data)

	const conc = 8
	var received, receivedBytes atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(fmt.Sprintf("%s/ipfs/%s/f%02d.bin", s.url, root, i%files))
				if err != nil {
					continue
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode == 200 && n == resp.ContentLength {
					received.Add(1)
					receivedBytes.Add(n)
				}
			}
		}(w)
	}
	time.Sleep(700 * time.Millisecond)
	s.cmd.Process.Kill() // SIGKILL: no shutdown, no final fsync
	s.cmd.Wait()
	close(stop)
	wg.Wait()
	before, beforeBytes := received.Load(), receivedBytes.Load()
	if before < 20 {
		t.Fatalf("only %d responses before the kill", before)
	}

	// Restart on the same spool, serve a few more, stop cleanly.
	s2 := startServe(t, data)
	after, afterBytes := int64(0), int64(0)
	for i := 0; i < 10; i++ {
		_, body := fetch(t, "GET", fmt.Sprintf("%s/ipfs/%s/f%02d.bin", s2.url, root, i))
		after++
		afterBytes += int64(len(body))
	}
	s2.stop(t)

	if _, err := cargate(t, "egress", "consume", "--data-dir", data, "--once"); err != nil {
		t.Fatalf("consume: %v", err)
	}
	out, err := cargate(t, "egress", "report", "--data-dir", data)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	var bytes, events int64
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "total" {
			fmt.Sscan(f[1], &bytes)
			fmt.Sscan(f[2], &events)
		}
	}
	wantMin, wantMax := before+after, before+after+conc
	if events < wantMin || events > wantMax {
		t.Fatalf("%d events counted; %d responses were received in full (+%d in flight at most)\n%s", events, wantMin, conc, out)
	}
	if bytes < beforeBytes+afterBytes {
		t.Fatalf("%d bytes counted, clients received %d", bytes, beforeBytes+afterBytes)
	}
	t.Logf("received %d responses (%d bytes) before SIGKILL and %d after; counted %d events, %d bytes", before, beforeBytes, after, events, bytes)
}
