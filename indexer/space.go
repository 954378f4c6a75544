package indexer

import (
	"strings"

	"github.com/storacha/go-ucanto/core/dag/blockstore"
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/did"
	edverifier "github.com/storacha/go-ucanto/principal/ed25519/verifier"
	"github.com/storacha/go-ucanto/ucan"
)

// judgeSpace sets c.SpaceTrusted. A location claim names the space its
// egress is billed to, and anyone with a delegation to write claims could
// name anyone's space. The space is trusted only when the node's own key
// signed the claim (its own imports, --space), or when the claim carries,
// among its proofs, a delegation from the space itself (a did:key) to the
// claim's issuer, signed and in date now: the issuer then shows authority
// for that space.
func (s *Service) judgeSpace(c *Claim) { judgeSpace(c, s.id.DID()) }

// judgeSpace sets c.SpaceTrusted, own being the DID of the indexer whose
// key's claims are trusted (did.Undef: none).
func judgeSpace(c *Claim, own did.DID) {
	c.SpaceTrusted = false
	if c.Space == did.Undef {
		return
	}
	issuer := c.Delegation.Issuer().DID()
	if own != did.Undef && issuer == own {
		c.SpaceTrusted = true
		return
	}
	c.SpaceTrusted = spaceDelegated(c.Delegation, c.Space, issuer)
}

// spaceDelegated reports whether one of d's proofs is a valid delegation
// from space to holder for a capability on space.
func spaceDelegated(d delegation.Delegation, space, holder did.DID) bool {
	if !strings.HasPrefix(space.String(), "did:key:") || len(d.Proofs()) == 0 {
		return false
	}
	v, err := edverifier.Parse(space.String())
	if err != nil {
		return false
	}
	bs, err := blockstore.NewBlockReader(blockstore.WithBlocksIterator(d.Blocks()))
	if err != nil {
		return false
	}
	for _, l := range d.Proofs() {
		p, err := delegation.NewDelegationView(l, bs)
		if err != nil {
			continue
		}
		if p.Issuer().DID() != space || p.Audience().DID() != holder || !onResource(p, space) {
			continue
		}
		if ucan.IsExpired(p) || ucan.IsTooEarly(p) {
			continue
		}
		if ok, err := ucan.VerifySignature(p.Data(), v); err == nil && ok {
			return true
		}
	}
	return false
}

func onResource(d delegation.Delegation, space did.DID) bool {
	for _, c := range d.Capabilities() {
		if c.With() == space.String() {
			return true
		}
	}
	return false
}
