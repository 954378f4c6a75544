package egress

import (
	"crypto/rand"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cargate/cargate/internal/spool"
)

// ErrSpoolFull is returned by Producer.Record when the spool is at MaxBytes.
var ErrSpoolFull = spool.ErrFull

// Producer writes events to the durable local spool. Record is safe for
// concurrent use and never waits on a queue or on fsync.
type Producer struct {
	cfg ProducerConfig
	w   *spool.Writer
	m   *producerMetrics
	log *slog.Logger
	// Events in the spool not yet acknowledged, as this process sees them:
	// backlog (found at open) + appended (counted by the spool writer) -
	// acked. Nothing on the request path touches an atomic for it.
	backlog int64
	ackedN  atomic.Int64
	// Ids Record assigns: a random id of this Producer, drawn at open, and
	// a sequence number. They are unique across producers with
	// probability 1 - 2^-64 per pair.
	instance [8]byte
	seq      atomic.Uint64
	dropped  atomic.Int64
	failures atomic.Int64
	shed     atomic.Int64
	shedLog  rateLimiter
	fullLog  rateLimiter
}

// OpenProducer opens (creating if needed) the spool in cfg.Dir, whose
// writer syncs it in the background. Only one Producer may open a
// directory at a time.
func OpenProducer(cfg ProducerConfig) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	backlog := spool.Count(cfg.Dir)
	w, err := spool.OpenWriter(cfg.spool())
	if err != nil {
		return nil, err
	}
	p := &Producer{cfg: cfg, w: w, log: cfg.Logger, backlog: backlog,
		fullLog: rateLimiter{every: rateLogEvery}, shedLog: rateLimiter{every: rateLogEvery}}
	p.m = newProducerMetrics(cfg.Registerer, p)
	_, _ = rand.Read(p.instance[:]) // crypto/rand.Read never fails on supported platforms
	return p, nil
}

// payloadBufs recycles encoding buffers: Record is on every request's path.
var payloadBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Record appends ev to the spool, assigning an id when ev.ID is empty. It
// returns ErrSpoolFull when the spool is at its bound (the event is
// dropped and counted).
func (p *Producer) Record(ev *Event) error {
	buf := payloadBufs.Get().(*[]byte)
	var payload []byte
	if ev.ID == "" { // assign one: this instance and the next number
		payload = ev.appendBinaryAutoID((*buf)[:0], &p.instance, p.seq.Add(1))
	} else {
		payload = ev.appendBinary((*buf)[:0])
	}
	err := p.w.Append(payload) // copies payload into the spool
	*buf = payload
	payloadBufs.Put(buf)
	switch {
	case err == nil: // counted by the spool writer, under its lock
	case errors.Is(err, ErrSpoolFull):
		p.dropped.Add(1)
		if p.fullLog.allow() {
			p.log.Error("egress: spool full, dropping events (billing data lost); is the shipper or consumer running?",
				"dir", p.cfg.Dir, "max_bytes", p.cfg.MaxBytes)
		}
	default:
		p.failures.Add(1)
		if p.fullLog.allow() {
			p.log.Error("egress: spool write failed, event lost", "dir", p.cfg.Dir, "err", err)
		}
	}
	return err
}

// shedEvent counts an empty event shed because its client sent more than
// its share (see bounds.go).
func (p *Producer) shedEvent() {
	p.shed.Add(1)
	if p.shedLog.allow() {
		p.log.Warn("egress: a client is flooding with responses that serve nothing; shedding its events beyond its share",
			"per_client_per_second", emptyEventsPerClient, "shed_total", p.shed.Load())
	}
}

// Dir is the spool directory, for the one reader that drains it.
func (p *Producer) Dir() string { return p.cfg.Dir }

// Shipped is called by the spool's reader in this process when n events
// left the spool (committed): they no longer count in the spool_events
// gauge, and the room they took is free at once.
func (p *Producer) Shipped(n int) {
	p.ackedN.Add(int64(n))
	p.w.Refresh()
}

// pending is the number of events in the spool not yet acknowledged, as
// this process sees them.
func (p *Producer) pending() int64 {
	return max(p.backlog+p.w.Appended()-p.ackedN.Load(), 0)
}

// produced counts events offered to Record.
func (p *Producer) produced() int64 {
	return p.w.Appended() + p.dropped.Load() + p.failures.Load()
}

// Close syncs everything written and releases the spool.
func (p *Producer) Close() error { return p.w.Close() }

// rateLimiter allows one event per period.
type rateLimiter struct {
	every time.Duration
	last  atomic.Int64
}

func (r *rateLimiter) allow() bool {
	now := time.Now().UnixNano()
	last := r.last.Load()
	return now-last >= int64(r.every) && r.last.CompareAndSwap(last, now)
}
