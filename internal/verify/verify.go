package verify

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ipfs/boxo/verifcid"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

var (
	// ErrMismatch: the bytes do not hash to the multihash (of a CID).
	ErrMismatch = errors.New("bytes do not match the CID")
	// ErrUnsupported: the multihash cannot be checked here.
	ErrUnsupported = errors.New("unsupported multihash")
)

// Checkable returns want decoded, or an error wrapping ErrUnsupported when
// it is not a multihash Block can check: the policy is boxo's (and so
// Kubo's) default allow-list — no md5 or murmur3, digests of 20 to 128
// bytes, identity digests of at most 128 bytes.
func Checkable(want multihash.Multihash) (*multihash.DecodedMultihash, error) {
	dec, err := multihash.Decode(want)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	if err := verifcid.ValidateCid(verifcid.DefaultAllowlist, cid.NewCidV1(cid.Raw, want)); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnsupported, dec.Name, err)
	}
	return dec, nil
}

// Block checks that data is the block want names.
func Block(want multihash.Multihash, data []byte) error {
	dec, err := Checkable(want)
	if err != nil {
		return err
	}
	if dec.Code == multihash.IDENTITY {
		if !bytes.Equal(dec.Digest, data) {
			return fmt.Errorf("%w: identity digest differs from the bytes", ErrMismatch)
		}
		return nil
	}
	got, err := multihash.Sum(data, dec.Code, dec.Length)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%w: %s hashes to %s", ErrMismatch, want.B58String(), got.B58String())
	}
	return nil
}
