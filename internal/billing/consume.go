package billing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cargate/cargate/internal/egress"
	"github.com/cargate/cargate/internal/retry"
	"github.com/cargate/cargate/internal/ship"
	"github.com/cargate/cargate/internal/spool"
)

// delivery is one message from a source, ready to be counted or dead-lettered.
type delivery struct {
	body []byte
	ev   egress.Event
	bad  error // why body is not a countable event, wrapping ErrMalformed
}

// source is where RunConsume reads events from: SQS or the local spool.
type source interface {
	// receive returns waiting messages; none means nothing is waiting now.
	receive(ctx context.Context) ([]delivery, error)
	// deadLetter durably stores a malformed message elsewhere.
	deadLetter(ctx context.Context, d delivery) error
	// ack removes the messages of the last receive from the source; called
	// only after their totals and dead letters are durable.
	ack(ctx context.Context) error
	// abandon forgets the last receive without acknowledging it, so its
	// messages are delivered again.
	abandon()
	close() error
}

// RunConsume reads egress events from cfg's source, drops duplicates by id,
// adds bytes per space per UTC day to the totals store and only then removes
// the messages from the source. It runs until ctx ends (returning nil) or,
// with cfg.Once, until nothing is waiting. Malformed messages are
// dead-lettered and never stop it; other failures are retried with backoff.
func RunConsume(ctx context.Context, cfg ConsumeConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	store, err := openTotals(ctx, cfg.TotalsDir, cfg.DynamoDB, cfg.Logger)
	if err != nil {
		return err
	}
	defer store.close()
	src, err := openSource(ctx, cfg)
	if err != nil {
		return err
	}
	defer src.close()
	c := &consumer{src: src, store: store, m: newConsumerMetrics(cfg.Registerer), log: cfg.Logger,
		retention: cfg.SeenRetention}
	// Failed rounds back off as the shipper does; with Once the consumer
	// gives up once the wait reaches its ceiling.
	pol := retry.Policy{Base: ship.DefaultRetryMin, Max: ship.DefaultRetryMax}
	fails := 0
	// An empty spool read is definitive; an empty SQS receive is not (a
	// queue can answer empty while messages are in flight), so --once
	// stops only after several empty receives in a row there.
	emptiesToStop, empties := 1, 0
	if cfg.SQS.QueueURL != "" {
		emptiesToStop = 3
	}
	for ctx.Err() == nil {
		c.forgetOldIDs(time.Now())
		n, err := c.round(ctx)
		if err != nil {
			src.abandon()
			c.m.receiveErrs.Inc()
			fails++
			if cfg.Once && ctx.Err() == nil && pol.Ceil(fails) >= pol.Max {
				return err
			}
			delay := pol.Delay(fails, 0)
			c.log.Warn("egress consume: round failed; retrying", "retry_in", delay, "err", err)
			if retry.Sleep(ctx, delay) != nil {
				break
			}
			continue
		}
		fails = 0
		if n > 0 {
			empties = 0
			continue
		}
		if empties++; cfg.Once && empties >= emptiesToStop {
			return nil
		}
	}
	return nil
}

type consumer struct {
	src   source
	store totalsStore
	m     *consumerMetrics
	log   *slog.Logger

	retention time.Duration
	forgotDay string // the day forgetOldIDs last ran
}

// seenForgetter is a totals store that keeps a marker per counted id
// apart from the totals (the embedded one), which can be dropped by day.
type seenForgetter interface {
	forgetSeen(beforeDay string) error
}

// forgetOldIDs drops, once per UTC day, the seen ids of events served
// more than the retention ago: a duplicate can only come from a queue
// redelivery, and SQS keeps a message at most 14 days.
func (c *consumer) forgetOldIDs(now time.Time) {
	f, ok := c.store.(seenForgetter)
	today := now.UTC().Format(dayLayout)
	if !ok || c.retention <= 0 || today == c.forgotDay {
		return
	}
	before := now.Add(-c.retention).UTC().Format(dayLayout)
	if err := f.forgetSeen(before); err != nil {
		c.log.Warn("egress consume: forgetting old event ids failed; retrying tomorrow", "before", before, "err", err)
	}
	c.forgotDay = today
}

// round handles one receive: dead letters first, then totals, then the ack.
// It returns how many messages it received.
func (c *consumer) round(ctx context.Context) (int, error) {
	ds, err := c.src.receive(ctx)
	if err != nil || len(ds) == 0 {
		return 0, err
	}
	evs := make([]egress.Event, 0, len(ds))
	var oldest time.Time
	for _, d := range ds {
		if d.bad != nil {
			if err := c.src.deadLetter(ctx, d); err != nil {
				return 0, fmt.Errorf("dead-letter: %w", err)
			}
			c.m.deadLettered.Inc()
			c.log.Warn("egress consume: malformed message dead-lettered", "reason", d.bad, "bytes", len(d.body))
			continue
		}
		evs = append(evs, d.ev)
		if oldest.IsZero() || d.ev.ServedAt.Before(oldest) {
			oldest = d.ev.ServedAt
		}
	}
	if len(evs) > 0 {
		dups, err := c.store.apply(ctx, evs)
		if err != nil {
			return 0, fmt.Errorf("totals: %w", err)
		}
		c.m.duplicates.Add(float64(dups))
		c.m.consumed.Add(float64(len(evs) - dups))
		c.m.lag.Set(time.Since(oldest).Seconds())
	}
	if err := c.src.ack(ctx); err != nil {
		return 0, fmt.Errorf("ack: %w", err)
	}
	return len(ds), nil
}

// parseRecord decodes and checks one spool record; a bad one keeps a
// readable body for its dead-letter line.
func parseRecord(p []byte) delivery {
	ev, body, err := egress.DecodeRecord(p)
	return delivery{body: body, ev: ev, bad: err}
}

// parseDelivery decodes and checks one message body.
func parseDelivery(body []byte) delivery {
	ev, err := egress.DecodeMessage(body)
	return delivery{body: body, ev: ev, bad: err}
}

func openTotals(ctx context.Context, dir string, dc DynamoDBConfig, log *slog.Logger) (totalsStore, error) {
	if dc.Table != "" {
		return openDynamoTotals(ctx, dc)
	}
	return openPebbleTotals(dir, log)
}

func openSource(ctx context.Context, cfg ConsumeConfig) (source, error) {
	if cfg.SQS.QueueURL == "" {
		r, err := spool.OpenReader(cfg.SpoolDir, cfg.Logger)
		if err != nil {
			return nil, err
		}
		return &spoolSource{r: r, deadFile: cfg.DeadLetterFile}, nil
	}
	q, err := ship.NewSQSQueue(ctx, cfg.SQS, cfg.Logger)
	if err != nil {
		return nil, err
	}
	return &sqsSource{q: q, dlq: cfg.SQS.DeadLetterQueueURL != "", wait: int32(cfg.ReceiveWait / time.Second), deadFile: cfg.DeadLetterFile}, nil
}

// spoolSource reads the local spool directly (the embedded queue).
type spoolSource struct {
	r        *spool.Reader
	deadFile string
}

const spoolReceiveBatch = 500

func (s *spoolSource) receive(context.Context) ([]delivery, error) {
	recs, err := s.r.Next(spoolReceiveBatch)
	if err != nil {
		return nil, err
	}
	ds := make([]delivery, len(recs))
	for i, rec := range recs {
		ds[i] = parseRecord(rec)
	}
	if len(ds) == 0 && s.r.Uncommitted() {
		// Crossed into a newer segment: persist that so old ones are deleted.
		return nil, s.r.Commit()
	}
	return ds, nil
}

func (s *spoolSource) deadLetter(_ context.Context, d delivery) error {
	return ship.AppendDeadLetter(s.deadFile, d.body, d.bad.Error())
}

func (s *spoolSource) ack(context.Context) error { return s.r.Commit() }

func (s *spoolSource) abandon() { s.r.Rewind() }

func (s *spoolSource) close() error { return s.r.Close() }

// sqsSource reads an SQS queue.
type sqsSource struct {
	q        *ship.SQSQueue
	dlq      bool // the queue's config names a dead-letter queue
	wait     int32
	deadFile string
	pending  []ship.ReceivedMessage
}

func (s *sqsSource) receive(ctx context.Context) ([]delivery, error) {
	if len(s.pending) > 0 {
		return nil, errors.New("egress: previous messages not acknowledged")
	}
	msgs, err := s.q.Receive(ctx, s.wait)
	if err != nil {
		return nil, err
	}
	s.pending = msgs
	ds := make([]delivery, len(msgs))
	for i, m := range msgs {
		ds[i] = parseDelivery([]byte(m.Body))
	}
	return ds, nil
}

func (s *sqsSource) deadLetter(ctx context.Context, d delivery) error {
	if s.dlq {
		return s.q.SendDeadLetter(ctx, string(d.body), d.bad.Error())
	}
	return ship.AppendDeadLetter(s.deadFile, d.body, d.bad.Error())
}

func (s *sqsSource) ack(ctx context.Context) error {
	err := s.q.Delete(ctx, s.pending)
	// Whatever happened, forget these: an undeleted message is redelivered
	// after its visibility timeout and dropped as a duplicate then.
	s.pending = nil
	return err
}

// abandon leaves the messages on the queue to reappear after their visibility timeout.
func (s *sqsSource) abandon() { s.pending = nil }

func (s *sqsSource) close() error { return nil }
