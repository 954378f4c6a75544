package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/cargate/cargate/internal/faultproxy"
)

// TestScaleOutWithFaultyStorage runs the scaled-out shape: an indexer
// over a blob directory published by an HTTP server, and a stateless
// gateway that asks the indexer and reads shards over HTTP through a
// fault-injecting proxy. Whatever storage does, every answer is the right
// bytes or a clean error, never wrong bytes.
func TestScaleOutWithFaultyStorage(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{}
	// The spacer sorts first: it shares the root directory's shard, which
	// the first request reads ahead.
	for i, name := range []string{"000-spacer.bin", "ok.bin", "500s.bin", "reset.bin", "short.bin", "flip.bin"} {
		files[name] = seeded(3<<20+1000*i, uint64(10+i))
		os.WriteFile(filepath.Join(dir, name), files[name], 0o644)
	}
	data := t.TempDir()
	blobs := filepath.Join(data, "blobs")
	os.MkdirAll(blobs, 0o755)
	origin := httptest.NewServer(http.FileServer(http.Dir(blobs)))
	defer origin.Close()
	proxy := faultproxy.New(origin.URL)
	defer proxy.Close()
	spec := fmt.Sprintf("file://%s?public-url=%s", blobs, proxy.URL())

	// Shards of a few blocks: a read spans several blocks, so cut reads resume.
	root := importRoots(t, data, "--blob-store", spec, "--shard-size", "4194304", dir)[0]
	idx := startRole(t, "indexer", data, "--blob-store", spec)
	gw := startRole(t, "gateway", t.TempDir(), "--indexer-url", idx.url, "--fetch-allow", "127.0.0.1")

	get := func(name string) (int, []byte, error) {
		resp, err := http.Get(gw.url + "/ipfs/" + root + "/" + name)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		body, err := readAllLimit(resp)
		return resp.StatusCode, body, err
	}
	cases := []struct {
		name   string
		fault  func()
		mustOK bool // storage recovers: the answer must be complete
	}{
		// Files are laid out in name order; testing them in reverse keeps
		// read-ahead of one case from fetching the next case's blocks.
		{"short.bin", func() { proxy.TruncateAfter(1200 << 10) }, true},
		{"reset.bin", func() { proxy.ResetAfter(1500 << 10) }, true}, // resumed from the last verified block
		{"ok.bin", func() {}, true},
		{"flip.bin", func() { proxy.FlipByte(300 << 10) }, false}, // the only replica lies
		{"500s.bin", func() { proxy.FailNext(2) }, true},          // transient errors are retried
	}
	for _, c := range cases {
		proxy.Clear()
		c.fault()
		before := proxy.Requests()
		code, body, err := get(c.name)
		want := files[c.name]
		switch {
		case code == 200 && err == nil && bytes.Equal(body, want):
			// the right bytes
		case c.mustOK:
			t.Errorf("%s: status %d, %d of %d bytes, err %v: want the whole file", c.name, code, len(body), len(want), err)
		case code == 200 && err == nil:
			t.Errorf("%s: a clean 200 with wrong bytes", c.name)
		}
		if len(body) > 0 && code == 200 && !bytes.Equal(body, want[:min(len(body), len(want))]) {
			t.Errorf("%s: bytes sent differ from the file", c.name)
		}
		t.Logf("%s: status %d, %d bytes, err %v, %d storage requests", c.name, code, len(body), err, proxy.Requests()-before)
		if c.name == "flip.bin" && code == 200 && err == nil {
			t.Errorf("%s: every replica lies, yet the stream ended cleanly", c.name)
		}
		if proxy.Requests() == before {
			t.Errorf("%s: storage was not read through the proxy", c.name)
		}
	}
	proxy.Clear()
	if t.Failed() {
		t.Logf("gateway log:\n%s", gw.log)
	}
}
