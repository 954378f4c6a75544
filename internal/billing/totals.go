package billing

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cargate/cargate/internal/egress"
)

// Total is the egress of one space on one UTC day.
type Total struct {
	Day    string // YYYY-MM-DD, UTC
	Space  string // space DID, or "-" for events that named no space
	Bytes  int64
	Events int64
}

// noSpace stands for "no space named" in keys and reports.
const noSpace = "-"

func spaceKey(s string) string {
	if s == "" {
		return noSpace
	}
	return s
}

// totalsStore keeps per-space per-day totals and remembers counted ids.
type totalsStore interface {
	// apply adds evs to the totals, skipping ids already counted, and
	// returns when the result is durable. Calling it again with the same
	// events changes nothing.
	apply(ctx context.Context, evs []egress.Event) (duplicates int, err error)
	// totals lists totals for days in [from, to] and, if space != "", one space.
	totals(ctx context.Context, space, from, to string) ([]Total, error)
	close() error
}

// pebbleTotals is the embedded store. Keys:
//
//	s/<day>/<event id>  -> ""                         seen marker
//	t/<day>/<space>     -> uint64 bytes, uint64 events  (little-endian)
//
// Seen markers and totals change in one synced batch, so a crash leaves
// both or neither. One process owns the directory (pebble locks it).
type pebbleTotals struct {
	db *pebble.DB
}

func openPebbleTotals(dir string, log *slog.Logger) (*pebbleTotals, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{log}})
	if err != nil {
		return nil, fmt.Errorf("egress: open totals store %s: %w", dir, err)
	}
	return &pebbleTotals{db: db}, nil
}

func (p *pebbleTotals) close() error { return p.db.Close() }

// forgetSeen deletes the seen markers of days before day (YYYY-MM-DD):
// one marker per counted event would otherwise grow without bound.
// Totals are kept.
func (p *pebbleTotals) forgetSeen(day string) error {
	return p.db.DeleteRange([]byte("s/"), []byte("s/"+day), pebble.Sync)
}

func (p *pebbleTotals) has(key []byte) (bool, error) {
	_, closer, err := p.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, closer.Close()
}

func (p *pebbleTotals) apply(_ context.Context, evs []egress.Event) (int, error) {
	b := p.db.NewBatch()
	defer b.Close()
	type delta struct{ bytes, events int64 }
	deltas := map[string]*delta{}
	seen := map[string]bool{}
	dups := 0
	for i := range evs {
		e := &evs[i]
		sk := "s/" + e.Day() + "/" + e.ID
		if seen[sk] {
			dups++
			continue
		}
		seen[sk] = true
		if ok, err := p.has([]byte(sk)); err != nil {
			return 0, err
		} else if ok {
			dups++
			continue
		}
		if err := b.Set([]byte(sk), nil, nil); err != nil {
			return 0, err
		}
		tk := "t/" + e.Day() + "/" + spaceKey(e.Space)
		if deltas[tk] == nil {
			deltas[tk] = &delta{}
		}
		deltas[tk].bytes += e.Bytes
		deltas[tk].events++
	}
	for tk, d := range deltas {
		cur, err := p.get([]byte(tk))
		if err != nil {
			return 0, err
		}
		var v [16]byte
		binary.LittleEndian.PutUint64(v[0:8], uint64(cur.Bytes+d.bytes))
		binary.LittleEndian.PutUint64(v[8:16], uint64(cur.Events+d.events))
		if err := b.Set([]byte(tk), v[:], nil); err != nil {
			return 0, err
		}
	}
	if b.Empty() {
		return dups, nil
	}
	return dups, b.Commit(pebble.Sync)
}

func (p *pebbleTotals) get(key []byte) (Total, error) {
	v, closer, err := p.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return Total{}, nil
	} else if err != nil {
		return Total{}, err
	}
	defer closer.Close()
	return decodeTotal(v)
}

func decodeTotal(v []byte) (Total, error) {
	if len(v) != 16 {
		return Total{}, fmt.Errorf("egress: totals value of %d bytes, want 16", len(v))
	}
	return Total{Bytes: int64(binary.LittleEndian.Uint64(v[0:8])), Events: int64(binary.LittleEndian.Uint64(v[8:16]))}, nil
}

func (p *pebbleTotals) totals(_ context.Context, space, from, to string) ([]Total, error) {
	// '0' sorts right after '/', so "t/<to>0" bounds every key of day <to>.
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: []byte("t/" + from + "/"), UpperBound: []byte("t/" + to + "0")})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []Total
	for it.First(); it.Valid(); it.Next() {
		day, sp, ok := strings.Cut(strings.TrimPrefix(string(it.Key()), "t/"), "/")
		if !ok || (space != "" && sp != space) {
			continue
		}
		t, err := decodeTotal(it.Value())
		if err != nil {
			return nil, err
		}
		t.Day, t.Space = day, sp
		out = append(out, t)
	}
	return out, it.Error()
}

// pebbleLogger sends pebble's log lines to slog.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble: " + fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error("pebble: fatal: " + msg)
	panic("pebble: " + msg)
}
