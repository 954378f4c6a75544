package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEgressEmbedded imports a file for a space, serves it (the first
// response read through the resolver, the rest from the response cache),
// drains the local spool with `cargate egress consume --once` and checks
// `egress report --space` bills the space every byte the client received.
func TestEgressEmbedded(t *testing.T) {
	const space = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	dir := t.TempDir()
	body := seeded(300000, 3)
	os.WriteFile(filepath.Join(dir, "f.bin"), body, 0o644)
	data := t.TempDir()
	if _, err := cargate(t, "import", "--data-dir", data, "--space", "not-a-did", dir); err == nil {
		t.Fatal("import accepted --space not-a-did")
	}
	root := importRoots(t, data, "--space", space, dir)[0]
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
	out, err := cargate(t, "egress", "report", "--data-dir", data, "--space", space)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	if !strings.Contains(out, space) || !strings.Contains(out, strconv.Itoa(sent)+"  5") {
		t.Fatalf("report does not bill %s the %d bytes of 5 responses:\n%s", space, sent, out)
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

// TestImportWhileServing adds content to a running node: importing into its
// data dir directly is refused with a hint, and importing through its
// indexer (--indexer-url) makes the content servable at once.
func TestImportWhileServing(t *testing.T) {
	data := t.TempDir()
	first := t.TempDir()
	os.WriteFile(filepath.Join(first, "a.txt"), []byte("first"), 0o644)
	importRoots(t, data, first)
	s := startServe(t, data)

	second := t.TempDir()
	os.WriteFile(filepath.Join(second, "b.txt"), []byte("added while serving"), 0o644)
	if _, err := cargate(t, "import", "--data-dir", data, "--quiet", second); err == nil || !strings.Contains(err.Error(), "--indexer-url") {
		t.Fatalf("import into a data dir in use: %v, want a hint to use --indexer-url", err)
	}
	roots := importRoots(t, data, "--indexer-url", s.url, second)
	resp, body := fetch(t, "GET", s.url+"/ipfs/"+roots[0]+"/b.txt")
	if resp.StatusCode != 200 || string(body) != "added while serving" {
		t.Fatalf("content imported through the indexer: %d %q", resp.StatusCode, body)
	}
}
