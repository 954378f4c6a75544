package indexer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/did"
)

// Publish sends a claim to the indexer's POST /claims. A claim the indexer
// rejects is ErrBadClaim with its reason; an unreachable or failing
// indexer is ErrUnavailable.
func (c *Client) Publish(ctx context.Context, d delegation.Delegation) error {
	body, err := io.ReadAll(d.Archive())
	if err != nil {
		return fmt.Errorf("archive claim: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/claims", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/vnd.ipld.car")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode < 500:
		return fmt.Errorf("%w: %s", ErrBadClaim, strings.TrimSpace(string(msg)))
	}
	return fmt.Errorf("%w: POST /claims: %s", ErrUnavailable, resp.Status)
}

// ServiceDID asks the indexer for its DID (GET /.well-known/did.json), the
// audience its claims must be addressed to.
func (c *Client) ServiceDID(ctx context.Context) (did.DID, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/.well-known/did.json", nil)
	if err != nil {
		return did.Undef, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return did.Undef, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return did.Undef, fmt.Errorf("%w: GET /.well-known/did.json: %s", ErrUnavailable, resp.Status)
	}
	var doc struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return did.Undef, fmt.Errorf("indexer DID document: %w", err)
	}
	return did.Parse(doc.ID)
}
