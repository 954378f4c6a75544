package revocation

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/cargate/cargate/internal/durable"
)

// FileName is the list's file in the data dir.
const FileName = "revoked"

// ReloadEvery is how often the running node looks at the file for
// changes: a revocation takes effect within this long.
const ReloadEvery = time.Second

// MaxFileBytes bounds the file read (about 1.5 million CIDs).
const MaxFileBytes = 96 << 20

// List is the set of revoked delegations, read from a file and read again
// when the file changes. A file that cannot be read or parsed keeps the
// set last read (and is reported by Err); a missing file is an empty list.
type List struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	set     map[string]struct{}
	size    int64
	mod     time.Time
	checked time.Time
	err     error
}

// Open reads the list at path (a missing file is an empty list).
func Open(path string) (*List, error) {
	l := &List{path: path, now: time.Now, set: map[string]struct{}{}}
	if err := l.reload(); err != nil {
		return nil, err
	}
	l.checked = l.now()
	return l, nil
}

// Revoked tells whether the delegation c was revoked.
func (l *List) Revoked(c cid.Cid) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := l.now(); now.Sub(l.checked) >= ReloadEvery {
		l.checked = now
		l.err = l.reload()
	}
	_, ok := l.set[c.KeyString()]
	return ok
}

// Err is the last failure to read the file again (nil when it was read).
func (l *List) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// reload reads the file if its size or modification time changed.
// Called with l.mu held (or before l is shared).
func (l *List) reload() error {
	fi, err := os.Stat(l.path)
	if errors.Is(err, os.ErrNotExist) {
		l.set, l.size, l.mod = map[string]struct{}{}, 0, time.Time{}
		return nil
	}
	if err != nil {
		return fmt.Errorf("revocation list: %w", err)
	}
	if fi.Size() == l.size && fi.ModTime().Equal(l.mod) {
		return nil
	}
	if fi.Size() > MaxFileBytes {
		return fmt.Errorf("revocation list %s: %d bytes, more than the %d read", l.path, fi.Size(), MaxFileBytes)
	}
	b, err := os.ReadFile(l.path)
	if err != nil {
		return fmt.Errorf("revocation list: %w", err)
	}
	set, err := parse(b)
	if err != nil {
		return fmt.Errorf("revocation list %s: %w", l.path, err)
	}
	l.set, l.size, l.mod = set, fi.Size(), fi.ModTime()
	return nil
}

// parse reads one CID a line; blank lines and # comments are skipped. A
// last line without its newline is a write in progress: left for later.
func parse(b []byte) (map[string]struct{}, error) {
	if i := bytes.LastIndexByte(b, '\n'); i < len(b)-1 {
		b = b[:i+1]
	}
	set := map[string]struct{}{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c, err := cid.Decode(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %q is not a CID: %w", n, line, err)
		}
		set[c.KeyString()] = struct{}{}
	}
	return set, sc.Err()
}

// Add appends the delegations cs to the list at path, durably (synced,
// with its directory when the file is new), before returning.
func Add(path string, cs ...cid.Cid) error {
	var buf bytes.Buffer
	for _, c := range cs {
		fmt.Fprintln(&buf, c.String())
	}
	if err := durable.Append(path, buf.Bytes()); err != nil {
		return fmt.Errorf("revocation list: %w", err)
	}
	return nil
}
