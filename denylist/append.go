package denylist

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/cargate/cargate/internal/durable"
)

// Entry returns the bad-bits line refusing content path p ("<cid>",
// "/ipfs/<cid>" or "/ipfs/<cid>/<path>"): "//" and the hex sha256 of its
// Key, so the list does not say what it refuses.
func Entry(p string) (string, error) {
	key, ok := Key(p)
	if !ok {
		return "", fmt.Errorf("%q is not a CID or an /ipfs/<cid>/<path>", p)
	}
	h := sha256.Sum256([]byte(key))
	return "//" + hex.EncodeToString(h[:]), nil
}

// Append adds the entries refusing paths to the list file at path
// (created 0600 if missing), synced before it returns; running nodes that
// read the file take them in at their next poll. Nothing is written when
// one path is not understood.
func Append(path string, paths ...string) ([]string, error) {
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		return nil, errors.New("entries are appended to a list file, not a URL")
	}
	var lines []string
	for _, p := range paths {
		line, err := Entry(p)
		if err != nil {
			return nil, err
		}
		lines = append(lines, line)
	}
	if err := durable.Append(path, []byte(strings.Join(lines, "\n")+"\n")); err != nil {
		return nil, fmt.Errorf("denylist %s: %w", path, err)
	}
	return lines, nil
}
