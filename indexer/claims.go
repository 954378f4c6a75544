package indexer

import (
	"fmt"
	"net/url"

	"github.com/ipfs/go-cid"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-libstoracha/capabilities/assert"
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/did"
	"github.com/storacha/go-ucanto/validator"
)

// Claim is a decoded claim: the delegation and what it asserts.
type Claim struct {
	Delegation delegation.Delegation
	// Kind is the claim's ability: assert/location, assert/index or assert/equals.
	Kind string
	// Content is the multihash the claim is about.
	Content multihash.Multihash
	// Location claims: where Content can be read, an optional range and space.
	URLs  []url.URL
	Range *assert.Range
	Space did.DID
	// SpaceTrusted says Space may be billed: the node's own key signed
	// the claim, or the claim carries the space's delegation to its
	// issuer (see Service.judgeSpace). Any other claim may name any
	// space, so its Space must not be billed.
	SpaceTrusted bool
	// Index claims: the index blob's CID (a CAR).
	Index cid.Cid
	// Equals claims: the equivalent CID.
	Equals cid.Cid
	// Remote is set on claims found in a remote source (IPNI, legacy
	// tables) rather than our own store: readers trust them least.
	Remote bool
}

// CID is the claim's own CID.
func (c *Claim) CID() cid.Cid { return linkCID(c.Delegation.Link()) }

// Decode reads what a delegation asserts. It fails for a delegation that
// is not exactly one assert/location, assert/index or assert/equals.
func Decode(d delegation.Delegation) (*Claim, error) {
	caps := d.Capabilities()
	if len(caps) != 1 {
		return nil, fmt.Errorf("%w: claim has %d capabilities, want 1", ErrBadClaim, len(caps))
	}
	src := validator.NewSource(caps[0], d)
	c := &Claim{Delegation: d, Kind: caps[0].Can()}
	switch c.Kind {
	case assert.LocationAbility:
		m, err := assert.Location.Match(src)
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrBadClaim, err.Error())
		}
		nb := m.Value().Nb()
		c.Content, c.URLs, c.Range, c.Space = nb.Content.Hash(), nb.Location, nb.Range, nb.Space
		if len(c.URLs) == 0 {
			return nil, fmt.Errorf("%w: location claim names no URL", ErrBadClaim)
		}
	case assert.IndexAbility:
		m, err := assert.Index.Match(src)
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrBadClaim, err.Error())
		}
		nb := m.Value().Nb()
		c.Content, c.Index = linkCID(nb.Content).Hash(), linkCID(nb.Index)
		if !c.Index.Defined() {
			return nil, fmt.Errorf("%w: index claim without index link", ErrBadClaim)
		}
	case assert.EqualsAbility:
		m, err := assert.Equals.Match(src)
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrBadClaim, err.Error())
		}
		nb := m.Value().Nb()
		c.Content, c.Equals = nb.Content.Hash(), linkCID(nb.Equals)
	default:
		return nil, fmt.Errorf("%w: unsupported ability %q", ErrBadClaim, c.Kind)
	}
	if len(c.Content) == 0 {
		return nil, fmt.Errorf("%w: claim has no content", ErrBadClaim)
	}
	return c, nil
}

func linkCID(l interface{ String() string }) cid.Cid {
	if cl, ok := l.(cidlink.Link); ok {
		return cl.Cid
	}
	if cl, ok := l.(*cidlink.Link); ok && cl != nil {
		return cl.Cid
	}
	c, _ := cid.Decode(l.String())
	return c
}
