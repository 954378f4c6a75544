package egress

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cargate/cargate/internal/spool"
)

// crashChildEnv, when set to a spool directory, turns TestCrashChild into the
// gateway process that TestCrashSIGKILLUnderLoad kills. Package spool has
// the same test for bare records, which also checks the files left.
const crashChildEnv = "CARGATE_EGRESS_CRASH_CHILD_SPOOL"

const crashBody = 3000 // bytes per response

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("helper process of TestCrashSIGKILLUnderLoad")
	}
	p, err := OpenProducer(ProducerConfig{Dir: dir, SegmentBytes: spool.MinSegmentBytes, MaxBytes: 256 << 20, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("b", crashBody)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		recordSpace(w, r.URL.Query().Get("space"))
		w.Header().Set("Content-Length", fmt.Sprint(crashBody))
		_, _ = io.WriteString(w, body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	_ = http.Serve(ln, Middleware(h, p)) // runs until SIGKILL
}

func TestCrashSIGKILLUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addr := waitListen(t, out)

	var (
		next     atomic.Int64
		mu       sync.Mutex
		issued   = map[string]bool{}
		complete = map[string]bool{}
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 5 * time.Second}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				space := fmt.Sprintf("did:key:req%d", next.Add(1))
				mu.Lock()
				issued[space] = true
				mu.Unlock()
				resp, err := client.Get(fmt.Sprintf("http://%s/ipfs/bafycrash?space=%s", addr, space))
				if err != nil {
					continue
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && n == crashBody && resp.StatusCode == 200 {
					mu.Lock()
					complete[space] = true
					mu.Unlock()
				}
			}
		}()
	}
	// Kill once enough responses completed to make the check mean
	// something, however slow the machine is: a count, not a duration.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(complete)
		mu.Unlock()
		if n >= minComplete {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d responses completed in 2 minutes; the load did not run", n)
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL, mid-load
		t.Fatal(err)
	}
	_ = cmd.Wait()
	stop.Store(true)
	wg.Wait()

	// Restart a producer over the same spool (sealing any torn tail).
	p, err := OpenProducer(ProducerConfig{Dir: dir, SegmentBytes: spool.MinSegmentBytes, MaxBytes: 256 << 20, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	// Read back what a consumer would count (billing de-duplicates by id and
	// totals; here every surviving record must be one whole, distinct event).
	type total struct{ bytes, events int64 }
	counted := map[string]total{}
	ids := map[string]bool{}
	for _, rec := range readAll(t, dir) {
		ev, _, err := DecodeRecord(rec)
		if err != nil {
			t.Errorf("record after the crash does not decode: %v", err)
			continue
		}
		if ids[ev.ID] {
			t.Errorf("event id %s spooled twice", ev.ID)
		}
		ids[ev.ID] = true
		tt := counted[ev.Space]
		tt.bytes += ev.Bytes
		tt.events++
		counted[ev.Space] = tt
	}
	for space, tt := range counted {
		if !issued[space] || tt.events != 1 || tt.bytes > crashBody {
			t.Errorf("unexpected total %s %+v (a request never made, counted twice, or too many bytes)", space, tt)
		}
	}
	for space := range complete {
		if tt := counted[space]; tt.events != 1 || tt.bytes != crashBody {
			t.Errorf("fully received response %s counted as %+v", space, tt)
		}
	}
	t.Logf("requests issued %d, fully received %d, counted %d", len(issued), len(complete), len(counted))
}

// minComplete is how many responses must have completed before the kill.
const minComplete = 200

// waitListen reads the child's stdout until its LISTEN line.
func waitListen(t *testing.T, r io.Reader) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "LISTEN "); ok {
				found <- a
			}
		}
	}()
	select {
	case a := <-found:
		return a
	case <-time.After(30 * time.Second):
		t.Fatal("child gateway did not start")
		return ""
	}
}
