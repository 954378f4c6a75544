package denylist

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func testCID(t *testing.T, data string) cid.Cid {
	t.Helper()
	h, err := multihash.Sum([]byte(data), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.DagProtobuf, h)
}

// badbits is the entry the published list carries for s: the hex sha256
// of the string, computed here independently of the package.
func badbits(s string) string {
	h := sha256.Sum256([]byte(s))
	return "//" + hex.EncodeToString(h[:])
}

func TestParseAndMatch(t *testing.T) {
	root := testCID(t, "root")
	dir := testCID(t, "dir")
	plain := testCID(t, "plain")
	v0 := cid.NewCidV0(testCID(t, "v0").Hash())
	other := testCID(t, "other")
	list := strings.Join([]string{
		"# a comment",
		"",
		badbits(root.String() + "/"),
		badbits(dir.String() + "/secret/file.txt"),
		plain.String(),
		"/ipfs/" + v0.String(),
		"//nothex" + strings.Repeat("z", 56),
		"//abcd",
		"not a cid",
		"!" + other.String(),
	}, "\n")
	var bad []int
	s, err := Parse(strings.NewReader(list), func(line int, _ string, _ error) { bad = append(bad, line) })
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 4 || s.Malformed() != 4 {
		t.Fatalf("entries %d malformed %d, want 4 and 4", s.Len(), s.Malformed())
	}
	if len(bad) != 4 || bad[0] != 7 {
		t.Fatalf("bad lines reported %v, want 7..10", bad)
	}
	v0asV1 := cid.NewCidV1(cid.DagProtobuf, v0.Hash())
	for _, tc := range []struct {
		p    string
		want bool
	}{
		{"/ipfs/" + root.String(), true},
		{"/ipfs/" + root.String() + "/any/path", true},
		{root.String() + "/", true},
		{"/ipfs/" + cid.NewCidV0(root.Hash()).String(), true}, // v0 form of a v1-listed root
		{"/ipfs/" + dir.String(), false},
		{"/ipfs/" + dir.String() + "/secret", false},
		{"/ipfs/" + dir.String() + "/secret/file.txt", true},
		{"/ipfs/" + dir.String() + "//secret/file.txt/", true},
		{"/ipfs/" + dir.String() + "/secret/file.txt/below", true},
		{"/ipfs/" + dir.String() + "/secret/other.txt", false},
		{"/ipfs/" + plain.String() + "/x", true},
		{"/ipfs/" + v0asV1.String(), true},
		{"/ipfs/" + other.String(), false},
		{"/ipfs/not-a-cid", false},
	} {
		if got := s.Denies(tc.p); got != tc.want {
			t.Errorf("Denies(%q) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if !s.DeniesCID(root) || s.DeniesCID(dir) {
		t.Fatal("DeniesCID: want root refused, dir (only a path under it listed) not")
	}
}

func TestHeaderSkipped(t *testing.T) {
	c := testCID(t, "x")
	list := "version: 1\nname: test\ndescription: a list\n---\n" + badbits(c.String()+"/") + "\n"
	s, err := Parse(strings.NewReader(list), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 1 || s.Malformed() != 0 || !s.DeniesCID(c) {
		t.Fatalf("entries %d malformed %d denied %v", s.Len(), s.Malformed(), s.DeniesCID(c))
	}
}

func TestLongLineFails(t *testing.T) {
	if _, err := Parse(strings.NewReader(strings.Repeat("a", MaxLineBytes+1)), nil); err == nil {
		t.Fatal("a line over the bound was accepted")
	}
}

func TestListReloads(t *testing.T) {
	a, b := testCID(t, "a"), testCID(t, "b")
	f := filepath.Join(t.TempDir(), "deny")
	if err := os.WriteFile(f, []byte(badbits(a.String()+"/")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	l, err := Open([]string{f}, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !l.Denied("test", "/ipfs/"+a.String()) || l.Denied("test", "/ipfs/"+b.String()) {
		t.Fatal("initial list not applied")
	}
	if got := value(t, l.refusals.WithLabelValues("test")); got != 1 {
		t.Fatalf("refusals %v, want 1", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Run(ctx, 10*time.Millisecond)
	body := badbits(a.String()+"/") + "\n" + b.String() + "\nbroken line\n"
	if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return l.Len() == 2 })
	if !l.Denied("test", "/ipfs/"+b.String()) {
		t.Fatal("reloaded entry not applied")
	}
	if got := value(t, l.entries); got != 2 {
		t.Fatalf("entries gauge %v, want 2", got)
	}
	if got := value(t, l.malformed); got != 1 {
		t.Fatalf("malformed gauge %v, want 1", got)
	}
	// A list that disappears leaves the last one in force.
	if err := os.Remove(f); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if !l.Denied("test", "/ipfs/"+b.String()) {
		t.Fatal("a missing file opened the list up")
	}
}

func TestOpenMissingFails(t *testing.T) {
	_, err := Open([]string{filepath.Join(t.TempDir(), "nope")}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		t.Fatal("a missing list file was accepted at start")
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// value reads a gauge or counter (testutil would add modules to go.mod).
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		t.Fatal(err)
	}
	if pb.Gauge != nil {
		return pb.GetGauge().GetValue()
	}
	return pb.GetCounter().GetValue()
}

// TestOpenTwiceOnOneRegistry: a second list on the same registry (a
// restart of the part in tests, or two roles in one process) reuses the
// metrics, as every package's do (internal/prom), instead of failing.
func TestOpenTwiceOnOneRegistry(t *testing.T) {
	a := testCID(t, "a")
	f := filepath.Join(t.TempDir(), "deny")
	if err := os.WriteFile(f, []byte(badbits(a.String()+"/")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	first, err := Open([]string{f}, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Open([]string{f}, reg, log)
	if err != nil {
		t.Fatalf("second Open on one registry: %v", err)
	}
	first.Denied("test", "/ipfs/"+a.String())
	second.Denied("test", "/ipfs/"+a.String())
	if got := value(t, second.refusals.WithLabelValues("test")); got != 2 {
		t.Fatalf("refusals %v, want 2: the two lists count in one metric", got)
	}
}

// listServer serves a denylist body with an ETag, answering 304 to a
// matching If-None-Match, and counts requests (conditional ones apart).
type listServer struct {
	mu          sync.Mutex
	body        string
	status      int
	requests    int
	conditional int
}

func (s *listServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if s.status != 0 {
		w.WriteHeader(s.status)
		return
	}
	etag := fmt.Sprintf("%q", fmt.Sprint(len(s.body), strings.Count(s.body, "\n")))
	if r.Header.Get("If-None-Match") != "" {
		s.conditional++
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	w.Header().Set("ETag", etag)
	io.WriteString(w, s.body)
}

func (s *listServer) counts() (requests, conditional int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.conditional
}

func (s *listServer) set(body string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.status = body, status
}

// TestListFromURL: a list at a URL is fetched at Open, fetched again
// (conditionally) only once URLPoll has passed, and a new body is put in
// force; a failed fetch or an oversized body leaves the last list in
// force and is counted. A file listed beside it keeps being read.
func TestListFromURL(t *testing.T) {
	a, b, c := testCID(t, "a"), testCID(t, "b"), testCID(t, "c")
	srv := &listServer{body: "version: 1\n---\n" + badbits(a.String()+"/") + "\n"}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	f := filepath.Join(t.TempDir(), "deny")
	os.WriteFile(f, []byte(c.String()+"\n"), 0o600)
	l, err := Open([]string{ts.URL + "/badbits.deny", f}, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	l.now = func() time.Time { return now }
	if !l.Denied("test", "/ipfs/"+a.String()) || !l.Denied("test", "/ipfs/"+c.String()) || l.Denied("test", "/ipfs/"+b.String()) {
		t.Fatal("the URL's and the file's entries are not both in force")
	}
	ctx := context.Background()
	srv.set("version: 1\n---\n"+badbits(a.String()+"/")+"\n"+b.String()+"\n", 0)
	if err := l.refresh(ctx, false); err != nil || l.Denied("test", "/ipfs/"+b.String()) {
		t.Fatalf("fetched again before URLPoll: %v", err)
	}
	if n, _ := srv.counts(); n != 1 {
		t.Fatalf("fetched again before URLPoll: %d requests", n)
	}
	now = now.Add(URLPoll)
	if err := l.refresh(ctx, false); err != nil || !l.Denied("test", "/ipfs/"+b.String()) {
		t.Fatalf("a changed list at the URL was not put in force: %v", err)
	}
	now = now.Add(URLPoll)
	if err := l.refresh(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n, cond := srv.counts(); n != 3 || cond != 2 {
		t.Fatalf("unchanged list: %d requests, %d conditional; want 3 and 2", n, cond)
	}
	srv.set("", http.StatusInternalServerError)
	now = now.Add(URLPoll)
	if err := l.refresh(ctx, false); err == nil || !l.Denied("test", "/ipfs/"+b.String()) || !l.Denied("test", "/ipfs/"+a.String()) {
		t.Fatalf("a failed fetch: %v; the last list must stay in force", err)
	}
	l.maxURL = 100
	srv.set(strings.Repeat(badbits(c.String()+"/x")+"\n", 10), 0)
	now = now.Add(URLPoll)
	if err := l.refresh(ctx, false); err == nil || !strings.Contains(err.Error(), "larger than") || !l.Denied("test", "/ipfs/"+b.String()) {
		t.Fatalf("an oversized list: %v; the last list must stay in force", err)
	}
	if got := value(t, l.failures); got != 2 {
		t.Fatalf("reload failures %v, want 2", got)
	}
	srv.set("", http.StatusNotFound)
	if _, err := Open([]string{ts.URL + "/gone"}, nil, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Fatal("a list URL that cannot be fetched was accepted at start")
	}
}

// TestAppend: entries appended as hashes refuse what they name (a whole
// DAG, one path) and nothing else; a bad path writes nothing.
func TestAppend(t *testing.T) {
	a, b := testCID(t, "a"), testCID(t, "b")
	f := filepath.Join(t.TempDir(), "deny")
	lines, err := Append(f, a.String(), "/ipfs/"+b.String()+"/dir/x.txt")
	if err != nil {
		t.Fatal(err)
	}
	if lines[0] != badbits(a.String()+"/") || lines[1] != badbits(b.String()+"/dir/x.txt") {
		t.Fatalf("lines %q are not the bad-bits hashes", lines)
	}
	if _, err := Append(f, "not-a-cid"); err == nil {
		t.Fatal("a path without a CID was appended")
	}
	body, _ := os.ReadFile(f)
	if strings.Contains(string(body), a.String()) || strings.Count(string(body), "\n") != 2 {
		t.Fatalf("list file %q: want two hashed lines, no CID in clear", body)
	}
	l, err := Open([]string{f}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !l.Denied("t", "/ipfs/"+a.String()+"/any") || !l.Denied("t", "/ipfs/"+b.String()+"/dir/x.txt") || l.Denied("t", "/ipfs/"+b.String()+"/dir/y.txt") {
		t.Fatal("appended entries do not refuse exactly what they name")
	}
}
