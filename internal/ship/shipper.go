package ship

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cargate/cargate/internal/durable"
	"github.com/cargate/cargate/internal/egress"
	"github.com/cargate/cargate/internal/retry"
	"github.com/cargate/cargate/internal/spool"
)

// Message is one event as handed to a Queue: ID is the event id (the
// de-duplication key) and Body its JSON.
type Message struct {
	ID   string
	Body []byte
}

// Queue receives events shipped from the spool.
type Queue interface {
	// Send delivers msgs. A nil error with a nil or all-nil slice means every
	// message was acknowledged. Otherwise errs[i] says why msgs[i] was not;
	// an error wrapping ErrRejected is permanent, any other is retried.
	// A non-nil err means nothing may be assumed delivered.
	Send(ctx context.Context, msgs []Message) (errs []error, err error)
}

// ErrRejected marks a message the queue will never accept (for example, too large).
var ErrRejected = errors.New("ship: message rejected by the queue")

// Source is the spool a Shipper drains, as its writer in this process
// sees it (*egress.Producer).
type Source interface {
	// Dir is the spool directory.
	Dir() string
	// Shipped tells the writer that n events left the spool.
	Shipped(n int)
}

// Shipper moves events from a spool to a Queue, at least once: the spool
// cursor moves (durably) only after the queue acknowledged every event
// before it, and segments are deleted only behind the cursor.
type Shipper struct {
	src Source
	q   Queue
	cfg ShipperConfig
	log *slog.Logger
	m   *metrics
}

// NewShipper returns a shipper for src's spool. Run it in its own goroutine.
func NewShipper(src Source, q Queue, cfg ShipperConfig) (*Shipper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults(src.Dir())
	return &Shipper{src: src, q: q, cfg: cfg, log: cfg.Logger, m: newMetrics(cfg.Registerer)}, nil
}

// Run ships until ctx ends; it returns nil then, or an error when the spool
// cannot be read or its cursor cannot be saved.
func (s *Shipper) Run(ctx context.Context) error {
	r, err := spool.OpenReader(s.src.Dir(), s.log)
	if err != nil {
		return err
	}
	defer r.Close()
	for ctx.Err() == nil {
		recs, err := r.Next(s.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("ship: read spool: %w", err)
		}
		if len(recs) > 0 {
			rejected, err := s.ship(ctx, recs)
			if err != nil {
				return nil // ctx ended while retrying; the cursor did not move
			}
			s.m.shipped.Add(float64(len(recs) - rejected))
		}
		if r.Uncommitted() {
			if err := r.Commit(); err != nil {
				return err
			}
			s.src.Shipped(len(recs))
		}
		if len(recs) == 0 {
			retry.Sleep(ctx, s.cfg.IdleWait)
		}
	}
	return nil
}

// ship sends recs until each one is acknowledged or rejected for good,
// retrying failures with backoff. It returns how many were rejected for
// good (and dead-lettered), or ctx's error if ctx ends first.
func (s *Shipper) ship(ctx context.Context, recs [][]byte) (rejected int, err error) {
	todo := make([]Message, 0, len(recs))
	for _, rec := range recs {
		id, body, err := egress.RecordMessage(rec)
		if err != nil {
			s.deadLetter(body, "spool record is not an event: "+err.Error())
			rejected++
			continue
		}
		todo = append(todo, Message{ID: id, Body: body})
	}
	pol := retry.Policy{Base: s.cfg.RetryMin, Max: s.cfg.RetryMax} // no Attempts: until ctx ends
	for fails := 1; len(todo) > 0; fails++ {
		sctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
		errs, sendErr := s.q.Send(sctx, todo)
		cancel()
		var again []Message
		for i, m := range todo {
			e := sendErr
			if e == nil && i < len(errs) {
				e = errs[i]
			}
			switch {
			case e == nil:
			case errors.Is(e, ErrRejected):
				s.deadLetter(m.Body, e.Error())
				rejected++
			default:
				again = append(again, m)
			}
		}
		if len(again) == 0 {
			return rejected, nil
		}
		s.m.failed.Add(float64(len(again)))
		delay := pol.Delay(fails, 0)
		s.log.Warn("ship: queue send failed; retrying", "events", len(again), "retry_in", delay, "err", firstErr(sendErr, errs))
		todo = again
		if err := retry.Sleep(ctx, delay); err != nil {
			return rejected, err
		}
	}
	return rejected, nil
}

func firstErr(err error, errs []error) error {
	if err != nil {
		return err
	}
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func (s *Shipper) deadLetter(body []byte, reason string) {
	s.m.rejected.Inc()
	s.log.Error("ship: event rejected for good; written to dead-letter file", "file", s.cfg.DeadLetterFile, "reason", reason)
	if err := AppendDeadLetter(s.cfg.DeadLetterFile, body, reason); err != nil {
		s.log.Error("ship: dead-letter write failed; event lost", "file", s.cfg.DeadLetterFile, "err", err)
	}
}

// deadLetterLine is one line of a local dead-letter file.
type deadLetterLine struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	Body   string    `json:"body"`
}

// AppendDeadLetter appends a JSON line and syncs it, so a message is never
// deleted from its source before its dead-letter copy is durable.
func AppendDeadLetter(path string, body []byte, reason string) error {
	line, err := json.Marshal(deadLetterLine{At: time.Now().UTC(), Reason: reason, Body: string(body)})
	if err != nil {
		return err
	}
	return durable.Append(path, append(line, '\n'))
}
