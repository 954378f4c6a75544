package identity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	ed25519 "github.com/storacha/go-ucanto/principal/ed25519/signer"
)

// TestLoadCreatesThenReuses: the first Load writes a private key file, the
// next Load reads the same key back.
func TestLoadCreatesThenReuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "key")
	a, err := Load(path, "")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, err %v; want 0600", fi.Mode().Perm(), err)
	}
	b, err := Load(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if a.DID() != b.DID() || !strings.HasPrefix(a.DID().String(), "did:key:z6Mk") {
		t.Fatalf("reloaded %s, created %s", b.DID(), a.DID())
	}
}

// TestParseAndDIDWeb: a key in go-ucanto's text form parses to the same
// DID, and a did:web wraps it.
func TestParseAndDIDWeb(t *testing.T) {
	s, _ := ed25519.Generate()
	text, _ := ed25519.Format(s)
	p, err := Parse(" "+text+"\n", "")
	if err != nil || p.DID() != s.DID() {
		t.Fatalf("parse: %v, %v", p, err)
	}
	w, err := Parse(text, "did:web:indexer.example")
	if err != nil || w.DID().String() != "did:web:indexer.example" {
		t.Fatalf("did:web: %v, %v", w, err)
	}
	for _, bad := range []string{"did:key:z6Mk", "not-a-did"} {
		if _, err := Parse(text, bad); err == nil {
			t.Errorf("did-web %q accepted", bad)
		}
	}
	if _, err := Parse("garbage", ""); err == nil {
		t.Error("garbage key accepted")
	}
}

// TestUcantoKeyFileForm: the file form ucanto tools write (a "# did:key:…"
// comment line, then the key) loads as that key, from a file or as text.
func TestUcantoKeyFileForm(t *testing.T) {
	s, _ := ed25519.Generate()
	text, _ := ed25519.Format(s)
	form := "# " + s.DID().String() + "\n" + text + "\n"
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte(form), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path, "")
	if err != nil || got.DID() != s.DID() {
		t.Fatalf("load %q: %v, %v; want %s", form, got, err, s.DID())
	}
	if got, err := Parse(form, ""); err != nil || got.DID() != s.DID() {
		t.Fatalf("parse %q: %v, %v", form, got, err)
	}
	if _, err := Parse("# only a comment\n", ""); err == nil {
		t.Fatal("a file holding only a comment parsed as a key")
	}
}
