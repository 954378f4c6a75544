package billing

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
)

// ReadTotals returns the totals selected by cfg, ordered by day then space.
func ReadTotals(ctx context.Context, cfg ReportConfig) ([]Total, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	store, err := openTotals(ctx, cfg.TotalsDir, cfg.DynamoDB, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer store.close()
	from, to := cfg.days()
	return store.totals(ctx, cfg.Space, from, to)
}

// RunReport writes the totals selected by cfg to w as an aligned table with
// the columns DAY, SPACE, BYTES, EVENTS (bytes as exact integers).
func RunReport(ctx context.Context, w io.Writer, cfg ReportConfig) error {
	ts, err := ReadTotals(ctx, cfg)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DAY\tSPACE\tBYTES\tEVENTS")
	var sum, n int64
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", t.Day, t.Space, t.Bytes, t.Events)
		sum += t.Bytes
		n += t.Events
	}
	fmt.Fprintf(tw, "total\t\t%d\t%d\n", sum, n)
	return tw.Flush()
}
