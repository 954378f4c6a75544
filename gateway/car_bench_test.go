package gateway

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	chunker "github.com/ipfs/boxo/chunker"
	boxogw "github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkFileCAR measures the gateway's own CAR writer (writeFileCAR)
// over an in-memory file of 8 MiB: with 1 KiB leaves (per-block costs
// dominate) and with 256 KiB leaves (copying dominates).
func BenchmarkFileCAR(b *testing.B) {
	for _, bc := range []struct {
		name  string
		chunk int64
	}{{"leaves=1KiB", 1 << 10}, {"leaves=256KiB", 256 << 10}} {
		b.Run(bc.name, func(b *testing.B) {
			const size = 8 << 20
			bs := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
			dag := merkledag.NewDAGService(blockservice.New(bs, nil))
			p := helpers.DagBuilderParams{Maxlinks: helpers.DefaultLinksPerBlock, RawLeaves: true, CidBuilder: builder, Dagserv: dag}
			db, err := p.New(chunker.NewSizeSplitter(bytes.NewReader(randomBytes(size, 7)), bc.chunk))
			if err != nil {
				b.Fatal(err)
			}
			nd, err := balanced.Layout(db)
			if err != nil {
				b.Fatal(err)
			}
			backend, err := boxogw.NewBlocksBackend(blockservice.New(bs, nil))
			if err != nil {
				b.Fatal(err)
			}
			cb, err := newCachedBackend(backend, bs, 1<<20, prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := cb.writeFileCAR(context.Background(), io.Discard, []cid.Cid{nd.Cid()}, nd.Cid()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
