package indexer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/multiformats/go-multiaddr"
	"github.com/storacha/go-libstoracha/capabilities/claim"
	"github.com/storacha/go-ucanto/client"
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/core/invocation"
	"github.com/storacha/go-ucanto/core/receipt"
	"github.com/storacha/go-ucanto/core/result"
	fdm "github.com/storacha/go-ucanto/core/result/failure/datamodel"
	unit "github.com/storacha/go-ucanto/core/result/ok"
	udm "github.com/storacha/go-ucanto/core/result/ok/datamodel"
	"github.com/storacha/go-ucanto/did"
	"github.com/storacha/go-ucanto/principal"
	ucanhttp "github.com/storacha/go-ucanto/transport/http"
	"github.com/storacha/go-ucanto/ucan"
)

// Publisher publishes claims to a remote indexer's ucanto intake: each
// claim travels in a claim/cache invocation, signed by id, on the
// indexer's DID, with proofs (delegations from the indexer's key to id;
// none when id is the indexer's own key).
type Publisher struct {
	c       *Client
	conn    client.Connection
	id      principal.Signer
	service ucan.Principal
	proofs  []delegation.Proof
}

// Publisher returns a Publisher signing as id; it asks the indexer for
// its DID first.
func (c *Client) Publisher(ctx context.Context, id principal.Signer, proofs ...delegation.Delegation) (*Publisher, error) {
	service, err := c.ServiceDID(ctx)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(c.base + "/claims")
	if err != nil {
		return nil, err
	}
	conn, err := client.NewConnection(service, ucanhttp.NewChannel(u, ucanhttp.WithClient(c.hc)))
	if err != nil {
		return nil, err
	}
	p := &Publisher{c: c, conn: conn, id: id, service: service}
	for _, d := range proofs {
		p.proofs = append(p.proofs, delegation.FromDelegation(d))
	}
	return p, nil
}

// Service is the indexer's DID, the audience claims are addressed to.
func (p *Publisher) Service() ucan.Principal { return p.service }

// Publish asks the indexer to hold claim (claim/cache). A refusal (its
// receipt is an error) is ErrBadClaim with the indexer's reason; an
// unreachable or failing indexer is ErrUnavailable.
func (p *Publisher) Publish(ctx context.Context, d delegation.Delegation) error {
	inv, err := claim.Cache.Invoke(p.id, p.service, p.service.DID().String(),
		claim.CacheCaveats{Claim: d.Link(), Provider: claim.Provider{Addresses: []multiaddr.Multiaddr{}}},
		delegation.WithProof(p.proofs...), delegation.WithExpiration(int(time.Now().Add(time.Hour).Unix())))
	if err != nil {
		return fmt.Errorf("claim/cache invocation: %w", err)
	}
	for blk, err := range d.Blocks() {
		if err != nil {
			return fmt.Errorf("claim blocks: %w", err)
		}
		if err := inv.Attach(blk); err != nil {
			return fmt.Errorf("attach claim block: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, p.c.timeout)
	defer cancel()
	resp, err := client.Execute(ctx, []invocation.Invocation{inv}, p.conn)
	if err != nil {
		return fmt.Errorf("%w: POST /claims: %w", ErrUnavailable, err)
	}
	return receiptError(inv, resp)
}

// receiptError reads inv's receipt from resp: nil when it is ok.
func receiptError(inv invocation.Invocation, resp client.ExecutionResponse) error {
	l, ok := resp.Get(inv.Link())
	if !ok {
		return fmt.Errorf("%w: the indexer sent no receipt for %s", ErrUnavailable, inv.Link())
	}
	reader, err := receipt.NewReceiptReaderFromTypes[unit.Unit, fdm.FailureModel](udm.UnitType(), fdm.FailureType())
	if err != nil {
		return err
	}
	r, err := reader.Read(l, resp.Blocks())
	if err != nil {
		return fmt.Errorf("%w: unreadable receipt: %w", ErrUnavailable, err)
	}
	if _, x := result.Unwrap(r.Out()); x != (fdm.FailureModel{}) {
		return fmt.Errorf("%w: %s", ErrBadClaim, x.Message)
	}
	return nil
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
