// Package claimstore keeps claims (signed UCAN delegations such as
// assert/location and assert/index) and the multihashes each claim can be
// found by.
//
// A claim is stored once, by its CID, and indexed under every multihash it
// answers for: a location claim under the blob it locates, an index claim
// under the content root and every block the index lists. Writes are
// atomic and durable (fsync) before they return.
//
// # Usage
//
//	s, err := claimstore.OpenPebble(dir)
//	err = s.Put(ctx, claimCID, claimBytes, keys)
//	claims, err := s.Find(ctx, blockHash)
//
// # Errors
//
// Claim returns ErrNotFound for an unknown claim CID. Find returns an empty
// slice, not an error, when nothing is known.
package claimstore
