package gateway

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/internal/billing"
	"github.com/cargate/cargate/internal/egress"
	"github.com/cargate/cargate/resolver"
)

// spaceBlockstore records a space for every block read, as the resolver
// does for blocks whose location claim names one.
type spaceBlockstore struct{ blockstore.Blockstore }

func (s spaceBlockstore) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	resolver.RecordSpace(ctx, "did:key:z6MkSpace")
	return s.Blockstore.Get(ctx, c)
}

// TestCachedResponsesBilledToTheirSpace: a response answered from the
// response cache reads no block, yet its egress event names the space.
func TestCachedResponsesBilledToTheirSpace(t *testing.T) {
	bs, root := fixture(t)
	h, err := New(Config{}, spaceBlockstore{bs}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	p, err := egress.OpenProducer(egress.ProducerConfig{Dir: spool})
	if err != nil {
		t.Fatal(err)
	}
	billed := egress.Middleware(h, p)
	const n = 3
	for i := 0; i < n; i++ { // the first is built, the others come from the cache
		if rec := serve(t, billed, "GET", "/ipfs/"+root.String()+"/index.html", nil); rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	totals := filepath.Join(dir, "totals")
	if err := billing.RunConsume(ctx, billing.ConsumeConfig{SpoolDir: spool, TotalsDir: totals, Once: true, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	got, err := billing.ReadTotals(ctx, billing.ReportConfig{TotalsDir: totals})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Space != "did:key:z6MkSpace" || got[0].Events != n {
		t.Fatalf("totals %+v, want %d events all in did:key:z6MkSpace", got, n)
	}
}
