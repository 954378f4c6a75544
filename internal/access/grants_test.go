package access

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

type revokedSet map[string]bool

func (r revokedSet) Revoked(c cid.Cid) bool { return r[c.String()] }

func dlg(t *testing.T, s string) string {
	t.Helper()
	h, _ := multihash.Sum([]byte(s), multihash.SHA2_256, -1)
	return cid.NewCidV1(cid.DagCBOR, h).String()
}

// TestGrants: a grant is in force between its not-before and expiry and
// while not revoked; it survives a restart; a torn last line (a write that
// was never acknowledged) is ignored and a garbage line refused.
func TestGrants(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	revoked := revokedSet{}
	ctx := context.Background()
	g, err := Open(path, revoked)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_000_000, 0)
	g.now = func() time.Time { return now }
	d1, d2 := dlg(t, "1"), dlg(t, "2")
	if err := g.Add(Grant{Space: "did:key:zA", Delegation: d1, Expires: now.Unix() + 10},
		Grant{Space: "did:key:zB", Delegation: d2, NotBefore: now.Unix() + 5}); err != nil {
		t.Fatal(err)
	}
	if !g.Allowed(ctx, "did:key:zA") || g.Allowed(ctx, "did:key:zB") || g.Allowed(ctx, "did:key:zC") || g.Allowed(ctx, "") {
		t.Fatal("at first: A only")
	}
	now = now.Add(5 * time.Second)
	if !g.Allowed(ctx, "did:key:zB") {
		t.Fatal("B not in force at its not-before")
	}
	now = now.Add(5 * time.Second)
	if g.Allowed(ctx, "did:key:zA") {
		t.Fatal("A in force at its expiry")
	}
	revoked[d2] = true
	if g.Allowed(ctx, "did:key:zB") {
		t.Fatal("B in force after its delegation was revoked")
	}
	revoked[d2] = false

	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	f.WriteString(`{"space":"did:key:zC","delegation":"` + dlg(t, "3") + `"`) // torn
	f.Close()
	g2, err := Open(path, revoked)
	if err != nil {
		t.Fatal(err)
	}
	g2.now = g.now
	if !g2.Allowed(ctx, "did:key:zB") || g2.Allowed(ctx, "did:key:zC") {
		t.Fatal("after a restart: B in force, the torn grant of C not")
	}
	os.WriteFile(path, []byte("not json\n"), 0o600)
	if _, err := Open(path, revoked); err == nil {
		t.Fatal("a garbage grants file was accepted")
	}
}
