package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/denylist"
	"github.com/cargate/cargate/internal/config"
)

// denylist loads --denylist once for n, shared by its gateway and its
// claim intake, and keeps it current until ctx ends; nil (nothing
// refused) when the flag is empty.
func (n *node) denylist(ctx context.Context) (*denylist.List, error) {
	lists := splitList(n.cfg.Denylist)
	if n.deny != nil || len(lists) == 0 {
		return n.deny, nil
	}
	l, err := denylist.Open(lists, n.reg, n.log)
	if err != nil {
		return nil, fmt.Errorf("--denylist: %w", err)
	}
	go l.Run(ctx, n.cfg.DenylistPoll)
	n.deny = l
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

// Deny appends entries refusing args (CIDs or /ipfs/ paths) to the first
// --denylist file, as hashes; nodes reading that file refuse them at
// their next poll.
func Deny(_ context.Context, cfg *config.Config, args []string, stdout io.Writer) error {
	lists := splitList(cfg.Denylist)
	if len(lists) == 0 || len(args) == 0 {
		return errors.New("deny: give --denylist FILE and the CIDs or /ipfs/<cid>/<path> to refuse")
	}
	lines, err := denylist.Append(lists[0], args...)
	if err != nil {
		return fmt.Errorf("deny: %w", err)
	}
	for i, l := range lines {
		fmt.Fprintf(stdout, "%s\t%s\n", l, args[i])
	}
	return nil
}
