package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/denylist"
	"github.com/cargate/cargate/gateway"
	"github.com/cargate/cargate/internal/config"
)

// openDenylist loads --denylist and keeps it current until ctx ends; nil
// (no list: nothing refused) when the flag is empty.
func openDenylist(ctx context.Context, cfg *config.Config, reg prometheus.Registerer, log *slog.Logger) (gateway.Denylist, error) {
	files := splitList(cfg.Denylist)
	if len(files) == 0 {
		return nil, nil
	}
	l, err := denylist.Open(files, reg, log)
	if err != nil {
		return nil, fmt.Errorf("--denylist: %w", err)
	}
	go l.Run(ctx, cfg.DenylistPoll)
	return l, nil
}

// importRefusal returns the importer's check of roots against --denylist,
// or nil without one.
func importRefusal(cfg *config.Config, log *slog.Logger) (func(cid.Cid) error, error) {
	files := splitList(cfg.Denylist)
	if len(files) == 0 {
		return nil, nil
	}
	l, err := denylist.Open(files, prometheus.NewRegistry(), log)
	if err != nil {
		return nil, fmt.Errorf("--denylist: %w", err)
	}
	return func(root cid.Cid) error {
		if l.DeniedCID("import", root) {
			return fmt.Errorf("root %s is on the denylist: not imported", root)
		}
		return nil
	}, nil
}
