package indexer_test

import (
	"bytes"
	"testing"

	"github.com/storacha/go-libstoracha/capabilities/claim"
	"github.com/storacha/go-ucanto/core/dag/blockstore"
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/core/invocation"
	"github.com/storacha/go-ucanto/validator"

	"github.com/cargate/cargate/indexer"
	"github.com/cargate/cargate/internal/importer"
)

// FuzzIntakeMessage feeds arbitrary bodies to the intake's decoding: the
// agent message, its invocations, a claim/cache's inner claim, and the
// claim itself. Nothing may panic; what decodes must be consistent. The
// seeds (testdata/fuzz/FuzzIntakeMessage) are real 7.0.0 and 7.1.0
// messages and broken ones; plain `go test` runs them.
func FuzzIntakeMessage(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, err := indexer.DecodeMessage(bytes.NewReader(body))
		if err != nil {
			return
		}
		br, err := blockstore.NewBlockReader(blockstore.WithBlocksIterator(msg.Blocks()))
		if err != nil {
			return
		}
		for _, l := range msg.Invocations() {
			inv, err := invocation.NewInvocationView(l, br)
			if err != nil {
				continue
			}
			if c, err := indexer.Decode(inv); err == nil && len(c.Content) == 0 {
				t.Fatalf("decoded a claim without content")
			}
			caps := inv.Capabilities()
			if len(caps) != 1 || caps[0].Can() != claim.CacheAbility {
				continue
			}
			m, err := claim.Cache.Match(validator.NewSource(caps[0], inv))
			if err != nil {
				continue
			}
			inner, err := delegation.NewDelegationView(m.Value().Nb().Claim, br)
			if err != nil {
				continue
			}
			if c, err := indexer.Decode(inner); err == nil && len(c.Content) == 0 {
				t.Fatalf("decoded an inner claim without content")
			}
		}
	})
}

// FuzzIndexBlob feeds arbitrary index blobs to the intake's index
// decoding and position bounds: nothing may panic, and an accepted index
// has no position longer than the largest block.
func FuzzIndexBlob(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := indexer.DecodeIndex(data)
		if err != nil {
			return
		}
		for _, slices := range v.Shards().Iterator() {
			for _, pos := range slices.Iterator() {
				if pos.Length > importer.MaxBlockSize || pos.Offset+pos.Length < pos.Offset {
					t.Fatalf("accepted position %+v", pos)
				}
			}
		}
	})
}
