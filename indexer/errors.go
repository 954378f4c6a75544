package indexer

import "errors"

var (
	// ErrNotFound: no source knows the multihash.
	ErrNotFound = errors.New("not found")
	// ErrBadClaim: a claim is malformed, unsigned, expired or not for us.
	ErrBadClaim = errors.New("invalid claim")
	// ErrBadInput: a malformed query.
	ErrBadInput = errors.New("bad input")
	// ErrBusy: intake is at its concurrency limit; retry shortly.
	ErrBusy = errors.New("claims intake busy")
	// ErrTooLarge: a request body over its limit.
	ErrTooLarge = errors.New("request body too large")
	// ErrUnavailable: every source that could answer failed; retry later.
	ErrUnavailable = errors.New("sources unavailable")
)
