package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEgressEmbedded serves some responses, drains the local spool with
// `cargate egress consume --once` and checks `egress report` totals the
// bytes the client received.
func TestEgressEmbedded(t *testing.T) {
	dir := t.TempDir()
	body := seeded(300000, 3)
	os.WriteFile(filepath.Join(dir, "f.bin"), body, 0o644)
	data := t.TempDir()
	root := importRoots(t, data, dir)[0]
	s := startServe(t, data)
	var sent int
	for i := 0; i < 5; i++ {
		resp, b := fetch(t, "GET", s.url+"/ipfs/"+root+"/f.bin")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		sent += len(b)
	}
	fetch(t, "GET", s.url+"/healthz") // not an /ipfs/ response: not billed
	s.stop(t)

	if _, err := cargate(t, "egress", "consume", "--data-dir", data, "--once"); err != nil {
		t.Fatalf("consume: %v", err)
	}
	// Consuming again adds nothing: events are counted once.
	if _, err := cargate(t, "egress", "consume", "--data-dir", data, "--once"); err != nil {
		t.Fatalf("second consume: %v", err)
	}
	out, err := cargate(t, "egress", "report", "--data-dir", data)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	if !strings.Contains(out, strconv.Itoa(sent)) {
		t.Fatalf("report does not show the %d bytes sent:\n%s", sent, out)
	}
}

// TestMetricsDocumented scrapes /metrics after some traffic and checks
// every cargate_ family is described in docs/metrics.md.
func TestMetricsDocumented(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("metrics"), 0o644)
	data := t.TempDir()
	root := importRoots(t, data, dir)[0]
	metricsAddr := freeAddr(t)
	s := startServe(t, data, "--metrics-listen", metricsAddr)
	fetch(t, "GET", s.url+"/ipfs/"+root+"/a.txt")
	fetch(t, "GET", s.url+"/ipfs/"+randomCID(t))
	resp, body := fetch(t, "GET", "http://"+metricsAddr+"/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(body), "\n") {
		if name, ok := strings.CutPrefix(line, "# HELP "); ok && strings.HasPrefix(name, "cargate_") {
			name, _, _ = strings.Cut(name, " ")
			n++
			if !strings.Contains(string(doc), "`"+name+"`") {
				t.Errorf("docs/metrics.md lacks %s", name)
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d cargate_ metric families exported", n)
	}
	if !strings.Contains(string(body), `cargate_http_requests_total{code="200",format="unixfs"}`) {
		t.Errorf("request counter by format and code missing")
	}
}
