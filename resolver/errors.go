package resolver

import "errors"

var (
	// ErrNotFound: no store holds the block.
	ErrNotFound = errors.New("block not found")
	// ErrUnverified: every replica of the block served bytes that do not
	// match its hash. Those bytes are never returned.
	ErrUnverified = errors.New("stored bytes failed verification")
	// ErrUnavailable: the locator could not answer now (every source it
	// asks failed); a retry later may succeed.
	ErrUnavailable = errors.New("block locations unavailable")
	// ErrReadOnly: the resolver does not take writes.
	ErrReadOnly = errors.New("resolver is read-only")
)

// Errors internal to the read path.
var (
	// errNotReached: a block of a coalesced read that failed at an earlier
	// block; its own place may be fine.
	errNotReached = errors.New("read failed before the block")
	// errPanic: a resolver goroutine panicked; the read failed cleanly.
	errPanic = errors.New("internal error in a shard read")
	// errBadSpan: a read span out of bounds (never planned from usable
	// positions; checked again where the bytes are allocated).
	errBadSpan = errors.New("block span out of bounds")
)
