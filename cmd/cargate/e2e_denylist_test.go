package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

// badbitsLine is the bad-bits entry for "<cid>/<path>", computed here from
// the CIDv1 base32 string as the published list computes it.
func badbitsLine(t *testing.T, root, p string) string {
	t.Helper()
	c, err := cid.Decode(root)
	if err != nil {
		t.Fatal(err)
	}
	s := cid.NewCidV1(c.Type(), c.Hash()).String() + "/" + p
	h := sha256.Sum256([]byte(s))
	return "//" + hex.EncodeToString(h[:]) + "\n"
}

func TestDenylist(t *testing.T) {
	data := t.TempDir()
	site := filepath.Join(t.TempDir(), "site")
	os.MkdirAll(filepath.Join(site, "dir"), 0o755)
	os.WriteFile(filepath.Join(site, "dir", "bad.txt"), []byte("taken down"), 0o644)
	os.WriteFile(filepath.Join(site, "dir", "good.txt"), []byte("still served"), 0o644)
	other := filepath.Join(t.TempDir(), "other.txt")
	os.WriteFile(other, []byte("denied whole"), 0o644)
	later := filepath.Join(t.TempDir(), "later.txt")
	os.WriteFile(later, []byte("denied after start"), 0o644)
	roots := importRoots(t, data, site, other, later)
	siteRoot, otherRoot, laterRoot := roots[0], roots[1], roots[2]

	list := filepath.Join(t.TempDir(), "badbits.deny")
	body := "version: 1\nname: test\n---\n# test list\n" + badbitsLine(t, otherRoot, "") + badbitsLine(t, siteRoot, "dir/bad.txt") + "a malformed line\n"
	if err := os.WriteFile(list, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, data, "--denylist", list, "--denylist-poll", "100ms",
		"--dnslink", "site.example.org=/ipfs/"+otherRoot, "--dnslink-dns=false")

	expect := func(name string, want int, url string, hdr ...string) {
		t.Helper()
		resp, b := fetch(t, "GET", url, hdr...)
		if resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d (%q)", name, resp.StatusCode, want, b)
		}
		if want == http.StatusGone && strings.Contains(string(b), "denied whole") {
			t.Errorf("%s: refused response carries the content", name)
		}
	}
	expect("denied CID, path", 410, s.url+"/ipfs/"+otherRoot)
	expect("denied CID, raw", 410, s.url+"/ipfs/"+otherRoot+"?format=raw")
	expect("denied CID, car", 410, s.url+"/ipfs/"+otherRoot+"?format=car")
	expect("denied CID, subdomain", 410, s.url+"/", "Host", otherRoot+".ipfs.localhost")
	expect("denied CID, DNSLink host", 410, s.url+"/", "Host", "site.example.org")
	expect("denied CID, /ipns/ DNSLink name", 410, s.url+"/ipns/site.example.org")
	expect("denied path", 410, s.url+"/ipfs/"+siteRoot+"/dir/bad.txt")
	expect("denied path, car", 410, s.url+"/ipfs/"+siteRoot+"/dir/bad.txt?format=car")
	expect("denied path, subdomain", 410, s.url+"/dir/bad.txt", "Host", siteRoot+".ipfs.localhost")
	expect("sibling path", 200, s.url+"/ipfs/"+siteRoot+"/dir/good.txt")
	expect("sibling path, subdomain", 200, s.url+"/dir/good.txt", "Host", siteRoot+".ipfs.localhost")

	// Hot reload: a CID served (and kept by the response cache) is refused
	// once the list names it.
	expect("not yet denied", 200, s.url+"/ipfs/"+laterRoot)
	expect("not yet denied (cached)", 200, s.url+"/ipfs/"+laterRoot)
	// Added with `cargate deny`: the line it appends is the bad-bits hash.
	if out, err := cargate(t, "deny", "--denylist", list, laterRoot); err != nil || !strings.HasPrefix(out, strings.TrimSpace(badbitsLine(t, laterRoot, ""))+"\t") {
		t.Fatalf("cargate deny: %q %v", out, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, _ := fetch(t, "GET", s.url+"/ipfs/"+laterRoot)
		if resp.StatusCode == http.StatusGone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("added entry not applied within 30s: status %d", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}

	s.stop(t)
	// Import refuses a denied root, keeping nothing. The content is new to
	// data (its CID is learnt from an import elsewhere), so a file count
	// that does not move means nothing of it was written.
	fresh := filepath.Join(t.TempDir(), "fresh.txt")
	os.WriteFile(fresh, []byte("never stored here"), 0o644)
	freshRoot := importRoots(t, t.TempDir(), fresh)[0]
	if err := os.WriteFile(list, []byte(body+badbitsLine(t, freshRoot, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	blobs := filepath.Join(data, "blobs")
	before := countFiles(t, blobs)
	out, err := cargate(t, "import", "--data-dir", data, "--quiet", "--denylist", list, fresh)
	if err == nil || !strings.Contains(err.Error(), "denylist") {
		t.Fatalf("import of a denied root: out %q err %v", out, err)
	}
	if after := countFiles(t, blobs); after != before {
		t.Fatalf("refused import stored files: %d before, %d after", before, after)
	}
	// The same import without the entry stores it: the count can move.
	importRoots(t, data, fresh)
	if after := countFiles(t, blobs); after == before {
		t.Fatalf("an accepted import stored no file (%d): the check above proves nothing", after)
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// TestDenylistAtIntakeAndFromURL: an indexer whose --denylist is a URL
// (an operator's list host, here on loopback) refuses claims about a
// denied root even from its own key, and stores nothing of that message;
// other content is still taken in.
func TestDenylistAtIntakeAndFromURL(t *testing.T) {
	denied := filepath.Join(t.TempDir(), "denied.txt")
	os.WriteFile(denied, []byte("never locatable here"), 0o644)
	fine := filepath.Join(t.TempDir(), "fine.txt")
	os.WriteFile(fine, []byte("locatable"), 0o644)
	deniedRoot := importRoots(t, t.TempDir(), denied)[0] // only to learn its CID

	list := badbitsLine(t, deniedRoot, "")
	lists := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(list))
	}))
	defer lists.Close()
	data := t.TempDir()
	idx := startRole(t, "indexer", data, "--denylist", lists.URL+"/badbits.deny")
	cl, _ := storachaClient(t, idx.url)
	common := []string{"import", "--data-dir", t.TempDir(), "--blob-store", filepath.Join(data, "blobs"),
		"--key-file", filepath.Join(data, "key"), "--indexer-url", idx.url, "--quiet"}
	if out, err := cargate(t, append(common, denied)...); err == nil || !strings.Contains(err.Error(), "denylist") {
		t.Fatalf("import of denied content through the intake: %q %v, want a refusal naming the denylist", out, err)
	}
	c, _ := cid.Decode(deniedRoot)
	if n := claimsUnder(t, cl, c.Hash()); n != 0 {
		t.Fatalf("%d claims stored about denied content", n)
	}
	out, err := cargate(t, append(common, fine)...)
	if err != nil {
		t.Fatalf("import of other content: %v", err)
	}
	fc, err := cid.Decode(strings.TrimSpace(out))
	if err != nil || claimsUnder(t, cl, fc.Hash()) == 0 {
		t.Fatalf("other content not taken in: %q %v", out, err)
	}
}
