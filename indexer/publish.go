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

// Publish stores a claim of this process's own importer: signed by the
// node's key, addressed to this service. It is checked like a claim
// received over HTTP (index blob read and its positions bounded) and, on
// any failure, rejected with ErrBadClaim with nothing stored. Claims from
// elsewhere come in through the ucanto intake (POST /claims), which
// checks their authority.
func (s *Service) Publish(ctx context.Context, d delegation.Delegation) error {
	if d.Issuer().DID() != s.id.DID() {
		return fmt.Errorf("%w: Publish takes the node's own claims; %s must invoke claim/cache with a delegation", ErrBadClaim, d.Issuer().DID())
	}
	if d.Audience().DID() != s.id.DID() {
		return fmt.Errorf("%w: addressed to %s, not to this service (%s)", ErrBadClaim, d.Audience().DID(), s.id.DID())
	}
	if err := s.CheckSigned(d); err != nil {
		return err
	}
	b := s.newBatch()
	if _, err := b.add(d); err != nil {
		return err
	}
	if _, err := b.check(ctx); err != nil {
		return err
	}
	return b.commit(ctx, nil) // a claim alone: no grants
}

// store1 stores a checked claim under every multihash it answers for.
func (s *Service) store1(ctx context.Context, d delegation.Delegation, c *Claim, keys []multihash.Multihash) error {
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
