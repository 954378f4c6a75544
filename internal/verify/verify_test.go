package verify

import (
	"errors"
	"testing"

	"github.com/multiformats/go-multihash"
)

func sum(t *testing.T, data []byte, code uint64, length int) multihash.Multihash {
	t.Helper()
	h, err := multihash.Sum(data, code, length)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestBlock(t *testing.T) {
	data := []byte("hello block")
	ident, _ := multihash.Encode(data, multihash.IDENTITY)
	bigIdent, _ := multihash.Encode(make([]byte, 129), multihash.IDENTITY)
	tests := []struct {
		name string
		want multihash.Multihash
		data []byte
		err  error
	}{
		{"sha2-256 matches", sum(t, data, multihash.SHA2_256, -1), data, nil},
		{"blake3 matches", sum(t, data, multihash.BLAKE3, 32), data, nil},
		{"one byte flipped", sum(t, data, multihash.SHA2_256, -1), []byte("hellp block"), ErrMismatch},
		{"identity holds the bytes", ident, data, nil},
		{"identity differs", ident, []byte("other"), ErrMismatch},
		{"identity over 128 bytes", bigIdent, make([]byte, 129), ErrUnsupported},
		{"md5 is refused", sum(t, data, multihash.MD5, -1), data, ErrUnsupported},
		{"murmur3 is refused", sum(t, data, multihash.MURMUR3X64_64, -1), data, ErrUnsupported},
		{"sha2-256 cut to 8 bytes", sum(t, data, multihash.SHA2_256, 8), data, ErrUnsupported},
		{"not a multihash", multihash.Multihash{0x12, 0x40, 1}, data, ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Block(tc.want, tc.data)
			if (tc.err == nil) != (err == nil) || (tc.err != nil && !errors.Is(err, tc.err)) {
				t.Fatalf("Block: %v, want %v", err, tc.err)
			}
		})
	}
}
