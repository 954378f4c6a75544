package indexer

import (
	"context"
	"fmt"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/storacha/go-libstoracha/capabilities/access"
	"github.com/storacha/go-ucanto/core/dag/blockstore"
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/core/invocation"
	"github.com/storacha/go-ucanto/core/receipt/fx"
	"github.com/storacha/go-ucanto/core/result"
	"github.com/storacha/go-ucanto/core/result/failure"
	"github.com/storacha/go-ucanto/core/result/ok"
	"github.com/storacha/go-ucanto/server"
	"github.com/storacha/go-ucanto/ucan"
)

// ServeGrant is a space's delegation letting this node serve its content
// (space/content/serve/*, to this node's DID), taken in by access/delegate.
type ServeGrant struct {
	Space      string
	Delegation ucan.Link
	Expires    int64 // unix seconds; 0: never
	NotBefore  int64 // unix seconds; 0: at once
	// Token is the delegation's nb.token: when set, a request must show
	// it to be served through this grant.
	Token string
}

// MaxServeGrants bounds the delegations of one access/delegate invocation.
const MaxServeGrants = 16

// serveAbilities are the abilities that let this node serve a space's
// content (Freeway's: the wildcard, and its one transport).
var serveAbilities = map[string]bool{
	"space/content/serve/*":              true,
	"space/content/serve/transport/http": true,
	"*":                                  true,
}

// serveDelegate is the access/delegate method: with = the space, signed by
// the space (or with its delegation: go-ucanto's validator checks the
// chain). Each delegation it links must travel in the invocation, be
// signed by the space, be addressed to this node and grant a serve ability
// on that space. They are staged in the message's batch and kept only if
// the whole message passes.
func (in *Intake) serveDelegate() server.ServiceMethod[ok.Unit, failure.IPLDBuilderFailure] {
	return server.Provide(access.Delegate, func(ctx context.Context, cap ucan.Capability[access.DelegateCaveats], inv invocation.Invocation, _ server.InvocationContext) (result.Result[ok.Unit, failure.IPLDBuilderFailure], fx.Effects, error) {
		b := batchOf(ctx)
		if b == nil {
			return nil, nil, fmt.Errorf("intake: invocation run outside a message")
		}
		grants, err := in.serveGrants(cap, inv)
		if err != nil {
			return result.Error[ok.Unit, failure.IPLDBuilderFailure](refusal(err)), nil, nil
		}
		b.grants = append(b.grants, grants...)
		return result.Ok[ok.Unit, failure.IPLDBuilderFailure](ok.Unit{}), nil, nil
	})
}

func (in *Intake) serveGrants(cap ucan.Capability[access.DelegateCaveats], inv invocation.Invocation) ([]ServeGrant, error) {
	if in.grant == nil {
		return nil, fmt.Errorf("%w: this node does not take serve delegations (start it with --require-serve-delegation)", ErrBadClaim)
	}
	space := cap.With()
	links := cap.Nb().Delegations.Values
	if len(links) == 0 || len(links) > MaxServeGrants {
		return nil, fmt.Errorf("%w: access/delegate carries %d delegations, want 1 to %d", ErrBadClaim, len(links), MaxServeGrants)
	}
	bs, err := blockstore.NewBlockReader(blockstore.WithBlocksIterator(inv.Blocks()))
	if err != nil {
		return nil, fmt.Errorf("%w: access/delegate blocks: %s", ErrBadClaim, err.Error())
	}
	var out []ServeGrant
	for _, link := range links {
		d, err := delegation.NewDelegationView(link, bs)
		if err != nil {
			return nil, fmt.Errorf("%w: delegation %s is not in the invocation: %s", ErrBadClaim, link, err.Error())
		}
		if err := in.svc.CheckSigned(d); err != nil {
			return nil, err
		}
		if d.Issuer().DID().String() != space {
			return nil, fmt.Errorf("%w: delegation %s is issued by %s, not by the space %s", ErrBadClaim, link, d.Issuer().DID(), space)
		}
		if d.Audience().DID() != in.svc.id.DID() {
			return nil, fmt.Errorf("%w: delegation %s is addressed to %s, not to this node (%s)", ErrBadClaim, link, d.Audience().DID(), in.svc.id.DID())
		}
		var serve ucan.Capability[any]
		for _, c := range d.Capabilities() {
			if serveAbilities[c.Can()] && c.With() == space {
				serve = c
				break
			}
		}
		if serve == nil {
			return nil, fmt.Errorf("%w: delegation %s grants no space/content/serve/* on %s", ErrBadClaim, link, space)
		}
		token, err := nbToken(serve)
		if err != nil {
			return nil, fmt.Errorf("%w: delegation %s: %w", ErrBadClaim, link, err)
		}
		g := ServeGrant{Space: space, Delegation: d.Link(), NotBefore: int64(d.NotBefore()), Token: token}
		if exp := d.Expiration(); exp != nil {
			g.Expires = int64(*exp)
		}
		out = append(out, g)
	}
	return out, nil
}

// maxTokenBytes bounds nb.token.
const maxTokenBytes = 512

// nbToken is the capability's nb.token ("" when it has none).
func nbToken(c ucan.Capability[any]) (string, error) {
	nb, ok := c.Nb().(datamodel.Node)
	if !ok || nb == nil || nb.Kind() != datamodel.Kind_Map {
		return "", nil
	}
	n, err := nb.LookupByString("token")
	if err != nil || n.IsNull() || n.IsAbsent() {
		return "", nil
	}
	t, err := n.AsString()
	if err != nil || t == "" || len(t) > maxTokenBytes {
		return "", fmt.Errorf("nb.token must be a string of 1 to %d bytes", maxTokenBytes)
	}
	return t, nil
}
