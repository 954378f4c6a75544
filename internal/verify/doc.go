// Package verify is the one check that bytes are the block a multihash
// names. The resolver runs it on every block before it is served, the
// importer on every block it takes in, the indexer on every index blob and
// claim block it reads: all three use Block.
//
// # Errors
//
// Block returns an error wrapping ErrMismatch when the bytes hash to
// something else, and ErrUnsupported for a multihash it cannot check (a
// hash function outside boxo's default allow-list such as md5 or murmur3,
// a digest under 20 or over 128 bytes, an identity digest over 128 bytes):
// such a CID is a client's error, never content to serve.
package verify
