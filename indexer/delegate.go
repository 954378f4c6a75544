package indexer

import (
	"fmt"
	"time"

	"github.com/storacha/go-libstoracha/capabilities/assert"
	"github.com/storacha/go-libstoracha/capabilities/claim"
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/principal"
	"github.com/storacha/go-ucanto/ucan"
)

// WriteAbilities are the abilities the intake serves: what a writer's
// delegation may grant.
var WriteAbilities = []string{claim.CacheAbility, assert.LocationAbility, assert.IndexAbility, assert.EqualsAbility}

// Delegate returns a delegation from the service's key to audience of the
// given abilities on the service (each one of WriteAbilities), valid for
// ttl (0: no expiry). It is the authority a writer shows to the intake.
func Delegate(service principal.Signer, audience ucan.Principal, abilities []string, ttl time.Duration) (delegation.Delegation, error) {
	if len(abilities) == 0 {
		return nil, fmt.Errorf("%w: give at least one ability (%v)", ErrBadInput, WriteAbilities)
	}
	caps := make([]ucan.Capability[ucan.NoCaveats], 0, len(abilities))
	for _, a := range abilities {
		if !known(a) {
			return nil, fmt.Errorf("%w: ability %q is not one the intake serves (%v)", ErrBadInput, a, WriteAbilities)
		}
		caps = append(caps, ucan.NewCapability(a, service.DID().String(), ucan.NoCaveats{}))
	}
	opt := delegation.WithNoExpiration()
	if ttl > 0 {
		opt = delegation.WithExpiration(int(time.Now().Add(ttl).Unix()))
	}
	return delegation.Delegate(service, audience, caps, opt)
}

func known(ability string) bool {
	for _, a := range WriteAbilities {
		if a == ability {
			return true
		}
	}
	return false
}
