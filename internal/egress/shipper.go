package egress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/cargate/cargate/internal/retry"
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
var ErrRejected = errors.New("egress: message rejected by the queue")

// Shipper moves events from a Producer's spool to a Queue, at least once:
// the spool cursor moves (durably) only after the queue acknowledged every
// event before it, and segments are deleted only behind the cursor.
type Shipper struct {
	p   *Producer
	q   Queue
	cfg ShipperConfig
	log *slog.Logger
}

// NewShipper returns a shipper for p's spool. Run it in its own goroutine.
func NewShipper(p *Producer, q Queue, cfg ShipperConfig) (*Shipper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Shipper{p: p, q: q, cfg: cfg.withDefaults(p.cfg.Dir), log: p.log}, nil
}

// Run ships until ctx ends; it returns nil then, or an error when the spool
// cannot be read or its cursor cannot be saved.
func (s *Shipper) Run(ctx context.Context) error {
	r, err := openSpoolReader(s.p.cfg.Dir, s.log)
	if err != nil {
		return err
	}
	defer r.close()
	for ctx.Err() == nil {
		recs, err := r.next(s.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("egress: read spool: %w", err)
		}
		if len(recs) > 0 {
			rejected, err := s.ship(ctx, recs)
			if err != nil {
				return nil // ctx ended while retrying; the cursor did not move
			}
			s.p.acked(len(recs), rejected)
		}
		if r.done.less(r.pos) {
			if err := r.commit(r.pos); err != nil {
				return err
			}
			s.p.w.refreshTotal()
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
func (s *Shipper) ship(ctx context.Context, recs []record) (rejected int, err error) {
	todo := make([]Message, 0, len(recs))
	for _, rec := range recs {
		ev, err := decodeRecord(rec.payload)
		if err == nil && ev.ID == "" {
			err = fmt.Errorf("%w: no id", ErrMalformed)
		}
		if err != nil {
			s.deadLetter(recordBody(rec.payload), "spool record is not an event: "+err.Error())
			rejected++
			continue
		}
		todo = append(todo, Message{ID: ev.ID, Body: ev.appendJSON(nil)})
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
		s.p.m.shipFailed.Add(float64(len(again)))
		delay := pol.Delay(fails, 0)
		s.log.Warn("egress: queue send failed; retrying", "events", len(again), "retry_in", delay, "err", firstErr(sendErr, errs))
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
	s.p.m.rejected.Inc()
	s.log.Error("egress: event rejected for good; written to dead-letter file", "file", s.cfg.DeadLetterFile, "reason", reason)
	if err := AppendDeadLetter(s.cfg.DeadLetterFile, body, reason); err != nil {
		s.log.Error("egress: dead-letter write failed; event lost", "file", s.cfg.DeadLetterFile, "err", err)
	}
}

// deadLetterLine is one line of a local dead-letter file.
type deadLetterLine struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	Body   string    `json:"body"`
}

// AppendDeadLetter appends a JSON line and fsyncs, so a message is never
// deleted from its source before its dead-letter copy is durable.
func AppendDeadLetter(path string, body []byte, reason string) error {
	line, err := json.Marshal(deadLetterLine{At: time.Now().UTC(), Reason: reason, Body: string(body)})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
