package resolver

import "errors"

var (
	// ErrNotFound: no store holds the block.
	ErrNotFound = errors.New("block not found")
	// ErrUnverified: every replica of the block served bytes that do not
	// match its hash. Those bytes are never returned.
	ErrUnverified = errors.New("stored bytes failed verification")
	// ErrReadOnly: the resolver does not take writes.
	ErrReadOnly = errors.New("resolver is read-only")
)
