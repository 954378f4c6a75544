package access

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/cargate/cargate/internal/durable"
)

// FileName is the grants file in the data dir.
const FileName = "serve-grants"

// MaxFileBytes bounds the grants file read at start.
const MaxFileBytes = 256 << 20

// Revocations tells whether a delegation was revoked.
type Revocations interface {
	Revoked(c cid.Cid) bool
}

// Grant is one space's delegation letting this node serve its content.
type Grant struct {
	Space      string `json:"space"`
	Delegation string `json:"delegation"`           // its CID
	Expires    int64  `json:"expires,omitempty"`    // unix seconds; 0: never
	NotBefore  int64  `json:"not_before,omitempty"` // unix seconds; 0: at once
	// Token, when set (the delegation's nb.token), must be shown by a
	// request (?authToken= or Authorization: Bearer) for this grant.
	Token string `json:"token,omitempty"`
}

// Grants is the set of grants, by space.
type Grants struct {
	path    string
	revoked Revocations
	now     func() time.Time

	mu      sync.RWMutex
	bySpace map[string][]grant
}

type grant struct {
	dlg      cid.Cid
	exp, nbf int64
	token    string
}

// Open reads the grants file at path (missing: no grants).
func Open(path string, revoked Revocations) (*Grants, error) {
	g := &Grants{path: path, revoked: revoked, now: time.Now, bySpace: map[string][]grant{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return g, nil
	}
	if err != nil {
		return nil, fmt.Errorf("serve grants: %w", err)
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("serve grants %s: %d bytes, more than the %d read", path, len(b), MaxFileBytes)
	}
	if i := bytes.LastIndexByte(b, '\n'); i < len(b)-1 {
		b = b[:i+1] // a last line without its newline was never acknowledged
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 64<<10)
	for n := 1; sc.Scan(); n++ {
		var gr Grant
		if err := json.Unmarshal(sc.Bytes(), &gr); err != nil {
			return nil, fmt.Errorf("serve grants %s line %d: %w", path, n, err)
		}
		if err := g.keep(gr); err != nil {
			return nil, fmt.Errorf("serve grants %s line %d: %w", path, n, err)
		}
	}
	return g, sc.Err()
}

func (g *Grants) keep(gr Grant) error {
	c, err := cid.Decode(gr.Delegation)
	if err != nil || gr.Space == "" {
		return fmt.Errorf("grant of %q by %q: not a space and a delegation CID", gr.Space, gr.Delegation)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, old := range g.bySpace[gr.Space] {
		if old.dlg.Equals(c) {
			return nil
		}
	}
	g.bySpace[gr.Space] = append(g.bySpace[gr.Space], grant{dlg: c, exp: gr.Expires, nbf: gr.NotBefore, token: gr.Token})
	return nil
}

// Add records grants durably (appended and synced), then puts them in
// force.
func (g *Grants) Add(grants ...Grant) error {
	var buf bytes.Buffer
	for _, gr := range grants {
		line, err := json.Marshal(gr)
		if err != nil {
			return err
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	if err := durable.Append(g.path, buf.Bytes()); err != nil {
		return fmt.Errorf("serve grants: %w", err)
	}
	for _, gr := range grants {
		if err := g.keep(gr); err != nil {
			return err
		}
	}
	return nil
}

// Allowed reports whether space holds a grant in force now for the
// request of ctx: in date, not revoked, and either without a token or
// with the token the request shows (TokenOf).
func (g *Grants) Allowed(ctx context.Context, space string) bool {
	if space == "" {
		return false
	}
	token := TokenOf(ctx)
	now := g.now().Unix()
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, gr := range g.bySpace[space] {
		if (gr.exp == 0 || now < gr.exp) && now >= gr.nbf && (gr.token == "" || gr.token == token) &&
			(g.revoked == nil || !g.revoked.Revoked(gr.dlg)) {
			return true
		}
	}
	return false
}
