package indexer

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/principal"
	edverifier "github.com/storacha/go-ucanto/principal/ed25519/verifier"
	"github.com/storacha/go-ucanto/ucan"
)

// Publish checks a claim and stores it, indexed under every multihash it
// answers for. An index claim's index blob must be readable (its location
// claim published first): every block it lists becomes findable. A claim
// that fails any check is rejected with ErrBadClaim and nothing is stored.
func (s *Service) Publish(ctx context.Context, d delegation.Delegation) error {
	c, err := s.Check(d)
	if err != nil {
		return err
	}
	return s.put(ctx, d, c)
}

// PublishCached takes in a claim/cache invocation: inv (addressed to this
// service, signed, in date) asks us to hold claim, which must be signed by
// its issuer and in date but may be addressed to anyone.
func (s *Service) PublishCached(ctx context.Context, inv, claim delegation.Delegation) error {
	if err := s.checkAudience(inv); err != nil {
		return err
	}
	if err := s.CheckSigned(inv); err != nil {
		return err
	}
	c, err := Decode(claim)
	if err != nil {
		return err
	}
	if err := s.CheckSigned(claim); err != nil {
		return err
	}
	return s.put(ctx, claim, c)
}

// put stores a checked claim under every multihash it answers for.
func (s *Service) put(ctx context.Context, d delegation.Delegation, c *Claim) error {
	keys := []multihash.Multihash{c.Content}
	switch c.Kind {
	case "assert/equals":
		keys = append(keys, c.Equals.Hash())
	case "assert/index":
		idx, _, err := s.loadIndex(ctx, c.Index.Hash())
		if err != nil {
			return fmt.Errorf("%w: index %s: %w", ErrBadClaim, c.Index, err)
		}
		for _, slices := range idx.View.Shards().Iterator() {
			for block := range slices.Iterator() {
				keys = append(keys, block)
			}
		}
	}
	data, err := io.ReadAll(d.Archive())
	if err != nil {
		return fmt.Errorf("archive claim: %w", err)
	}
	if err := s.store.Put(ctx, c.CID(), data, keys); err != nil {
		return fmt.Errorf("store claim: %w", err)
	}
	s.forget(keys)
	s.gen.Add(1)
	return nil
}

// forget drops cached answers (negative ones included) for keys, so new
// claims are visible at once in this process.
func (s *Service) forget(keys []multihash.Multihash) {
	for _, k := range keys {
		s.claims.Del(string(k))
	}
}

// Check decodes a claim and verifies it: addressed to this service, signed
// by its issuer, within its validity window.
func (s *Service) Check(d delegation.Delegation) (*Claim, error) {
	c, err := Decode(d)
	if err != nil {
		return nil, err
	}
	if err := s.checkAudience(d); err != nil {
		return nil, err
	}
	if err := s.CheckSigned(d); err != nil {
		return nil, err
	}
	return c, nil
}

func (s *Service) checkAudience(d delegation.Delegation) error {
	if d.Audience().DID() != s.id.DID() {
		return fmt.Errorf("%w: addressed to %s, not to this service (%s)", ErrBadClaim, d.Audience().DID(), s.id.DID())
	}
	return nil
}

// CheckSigned verifies a delegation's validity window and its issuer's
// signature, whoever it is addressed to.
func (s *Service) CheckSigned(d delegation.Delegation) error {
	if ucan.IsExpired(d) {
		return fmt.Errorf("%w: claim %s has expired", ErrBadClaim, d.Link())
	}
	if ucan.IsTooEarly(d) {
		return fmt.Errorf("%w: claim %s is not valid yet", ErrBadClaim, d.Link())
	}
	v, err := s.verifier(d.Issuer().DID().String())
	if err != nil {
		return err
	}
	ok, err := ucan.VerifySignature(d.Data(), v)
	if err != nil || !ok {
		return fmt.Errorf("%w: bad signature on claim %s by %s", ErrBadClaim, d.Link(), d.Issuer().DID())
	}
	return nil
}

// verifier returns the key that must have signed for issuer: our own, or a
// did:key's embedded key. Other DID methods cannot be resolved here.
func (s *Service) verifier(issuer string) (principal.Verifier, error) {
	if issuer == s.id.DID().String() {
		return s.id.Verifier(), nil
	}
	if !strings.HasPrefix(issuer, "did:key:") {
		return nil, fmt.Errorf("%w: cannot verify issuer %s (only did:key issuers and this service)", ErrBadClaim, issuer)
	}
	v, err := edverifier.Parse(issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: issuer %s: %w", ErrBadClaim, issuer, err)
	}
	return v, nil
}
