package revocation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

func testCID(t *testing.T, s string) cid.Cid {
	t.Helper()
	h, err := multihash.Sum([]byte(s), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.DagCBOR, h)
}

// TestListSeesAdditions: a running node's list takes in what Add wrote
// once ReloadEvery has passed, not before; nothing else is revoked.
func TestListSeesAdditions(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	now := l.checked
	l.now = func() time.Time { return now }
	a, b := testCID(t, "a"), testCID(t, "b")
	if l.Revoked(a) {
		t.Fatal("revoked in an empty list")
	}
	if err := Add(path, a); err != nil {
		t.Fatal(err)
	}
	if l.Revoked(a) {
		t.Fatal("the list was read again before ReloadEvery passed")
	}
	now = now.Add(ReloadEvery)
	if !l.Revoked(a) {
		t.Fatal("a revocation added to the file was not seen after ReloadEvery")
	}
	if l.Revoked(b) {
		t.Fatal("a delegation never revoked is reported revoked")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("list file mode: %v %v, want 0600", fi.Mode(), err)
	}
	// A second Open (a restart) reads both lines written so far.
	if err := Add(path, b); err != nil {
		t.Fatal(err)
	}
	l2, err := Open(path)
	if err != nil || !l2.Revoked(a) || !l2.Revoked(b) {
		t.Fatalf("after a restart: %v", err)
	}
}

// TestListBadFileKeepsLastSet: a file edited into garbage is refused at
// Open and, for a running node, leaves the set last read in force.
func TestListBadFileKeepsLastSet(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	a := testCID(t, "a")
	if err := Add(path, a); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	now := l.checked
	l.now = func() time.Time { return now }
	os.WriteFile(path, []byte("# comment\n"+a.String()+"\nnot-a-cid\n"), 0o600)
	now = now.Add(ReloadEvery)
	if !l.Revoked(a) {
		t.Fatal("a garbage line dropped the revocations read before")
	}
	if err := l.Err(); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("Err() = %v, want the bad line named", err)
	}
	if _, err := Open(path); err == nil {
		t.Fatal("Open of a garbage list succeeded")
	}
}

// TestListPartialLastLine: a line still being written (no newline yet)
// is not read as a CID, so a half-written entry never fails the list.
func TestListPartialLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	a, b := testCID(t, "a"), testCID(t, "b")
	os.WriteFile(path, []byte(a.String()+"\n"+b.String()[:10]), 0o600)
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Revoked(a) || l.Revoked(b) {
		t.Fatal("a complete line must count and a partial one must not")
	}
}
