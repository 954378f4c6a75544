// Package identity loads the node's signing key: an ed25519 key in the
// multibase text form that go-ucanto formats and parses (so keys made by
// Storacha's tooling work unchanged), optionally presented under a did:web.
package identity
