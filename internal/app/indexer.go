package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/cargate/cargate/indexer"
	"github.com/cargate/cargate/internal/config"
)

// remoteSources builds the claim sources beyond our own store (remote
// IPNI nodes, legacy content-claims), in the order they are asked.
func remoteSources(ctx context.Context, cfg *config.Config, n *node) ([]indexer.ClaimFinder, error) {
	return nil, nil
}

// mountIndexer adds the indexer's HTTP API to mux.
func mountIndexer(mux *http.ServeMux, n *node) error {
	return nil
}

// ServeIndexer runs the indexer role alone.
func ServeIndexer(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	return errors.New("cargate indexer: the standalone indexer role is not built yet")
}

// ServeGateway runs the gateway role alone, asking cfg.Indexer.URL.
func ServeGateway(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	return errors.New("cargate gateway: the standalone gateway role is not built yet")
}
