package config

import (
	"flag"
	"time"
)

// Defaults of `cargate delegate`.
const (
	DefaultDelegateCan     = "claim/cache,assert/location,assert/index,assert/equals"
	DefaultDelegateExpires = 720 * time.Hour
)

// DelegateConfig configures `cargate delegate`: a delegation from the
// node's key letting another key write claims to this node's indexer.
type DelegateConfig struct {
	// Audience is the DID receiving the delegation.
	Audience string
	// Can lists the abilities delegated (comma-separated).
	Can string
	// Expires is how long the delegation is valid; 0: it never expires.
	Expires time.Duration
	// Out is a file to write the delegation to (a CAR); empty: print it
	// on stdout in multibase text form.
	Out string
}

// Flags registers the settings of `cargate delegate` on fs.
func (c *DelegateConfig) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Audience, "audience", "", "DID of the key that may write claims (required)")
	fs.StringVar(&c.Can, "can", DefaultDelegateCan, "abilities delegated, comma-separated")
	fs.DurationVar(&c.Expires, "expires", DefaultDelegateExpires, "how long the delegation is valid (0: never expires)")
	fs.StringVar(&c.Out, "out", "", "write the delegation (a CAR) to this file instead of printing it")
}
