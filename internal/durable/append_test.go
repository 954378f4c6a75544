package durable

import (
	"os"
	"path/filepath"
	"testing"
)

// TestAppend: appends accumulate in order in an owner-only file.
func TestAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "list")
	for _, s := range []string{"a\n", "b\n"} {
		if err := Append(path, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if err != nil || string(b) != "a\nb\n" || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file %q mode %v: %v", b, fi.Mode(), err)
	}
}
