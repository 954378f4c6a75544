package identity

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/storacha/go-ucanto/did"
	"github.com/storacha/go-ucanto/principal"
	ed25519 "github.com/storacha/go-ucanto/principal/ed25519/signer"
	"github.com/storacha/go-ucanto/principal/signer"
)

// Load returns the signer whose key is in path, creating a new key there
// (mode 0600) when the file does not exist. A non-empty didWeb wraps the key
// so that it signs as that did:web.
func Load(path, didWeb string) (principal.Signer, error) {
	s, err := loadOrCreate(path)
	if err != nil {
		return nil, err
	}
	return wrap(s, didWeb)
}

// Parse returns the signer of a key given as text (for --key / env).
func Parse(text, didWeb string) (principal.Signer, error) {
	s, err := ed25519.Parse(keyText(text))
	if err != nil {
		return nil, fmt.Errorf("parse ed25519 key: %w", err)
	}
	return wrap(s, didWeb)
}

// keyText strips what ucanto tools write around a key: comment lines
// (a "# did:key:…" line naming the key's DID) and blank lines.
func keyText(text string) string {
	var key []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key = append(key, line)
	}
	return strings.Join(key, "")
}

func wrap(s principal.Signer, didWeb string) (principal.Signer, error) {
	if didWeb == "" {
		return s, nil
	}
	id, err := did.Parse(didWeb)
	if err != nil || !strings.HasPrefix(didWeb, "did:web:") {
		return nil, fmt.Errorf("invalid did:web %q", didWeb)
	}
	return signer.Wrap(s, id)
}

func loadOrCreate(path string) (principal.Signer, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		s, err := ed25519.Parse(keyText(string(b)))
		if err != nil {
			return nil, fmt.Errorf("key file %s: %w", path, err)
		}
		return s, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	s, err := ed25519.Generate()
	if err != nil {
		return nil, err
	}
	text, err := ed25519.Format(s)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	if _, err := f.WriteString(text + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return s, f.Close()
}
