package egress

import (
	"crypto/rand"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Producer writes events to the durable local spool. Record is safe for
// concurrent use and never waits on a queue or on fsync.
type Producer struct {
	cfg ProducerConfig
	w   *spoolWriter
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

	stop     chan struct{}
	stopped  sync.WaitGroup
	closeErr error
	once     sync.Once
	fullLog  rateLimiter
}

// OpenProducer opens (creating if needed) the spool in cfg.Dir and starts the
// background fsync loop. Only one Producer may open a directory at a time.
func OpenProducer(cfg ProducerConfig) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	w, err := openSpoolWriter(cfg)
	if err != nil {
		return nil, err
	}
	p := &Producer{cfg: cfg, w: w, log: cfg.Logger, backlog: countBacklog(cfg.Dir),
		stop: make(chan struct{}), fullLog: rateLimiter{every: 10 * time.Second}, shedLog: rateLimiter{every: 10 * time.Second}}
	p.m = newProducerMetrics(cfg.Registerer, p)
	_, _ = rand.Read(p.instance[:]) // crypto/rand.Read never fails on supported platforms
	w.onRefresh = func(total int64) { p.m.spoolBytes.Set(float64(total)) }
	w.refreshTotal()
	p.stopped.Add(1)
	go p.syncLoop()
	return p, nil
}

// countBacklog counts records after the reader cursor, for the depth gauge.
func countBacklog(dir string) int64 {
	cur, err := loadCursor(dir)
	if err != nil {
		return 0
	}
	r := &spoolReader{dir: dir, log: slog.New(slog.DiscardHandler), pos: cur}
	var n int64
	for {
		recs, err := r.next(4096)
		n += int64(len(recs))
		if err != nil || len(recs) == 0 {
			return n
		}
	}
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
	err := p.w.append(payload) // copies payload into the spool
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

// acked is called by the shipper when n events left the spool, of which
// rejected were dead-lettered instead of acknowledged by the queue.
func (p *Producer) acked(n, rejected int) {
	p.m.shipped.Add(float64(n - rejected))
	p.ackedN.Add(int64(n))
}

// pending is the number of events in the spool not yet acknowledged, as
// this process sees them.
func (p *Producer) pending() int64 {
	return max(p.backlog+p.w.appendedCount()-p.ackedN.Load(), 0)
}

// produced counts events offered to Record.
func (p *Producer) produced() int64 {
	return p.w.appendedCount() + p.dropped.Load() + p.failures.Load()
}

func (p *Producer) syncLoop() {
	defer p.stopped.Done()
	t := time.NewTicker(p.cfg.SyncInterval)
	defer t.Stop()
	lastRefresh := time.Now()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		case <-p.w.syncNow:
		}
		if err := p.w.sync(); err != nil {
			p.log.Error("egress: spool fsync failed", "dir", p.cfg.Dir, "err", err)
		}
		if time.Since(lastRefresh) >= time.Second {
			p.w.refreshTotal()
			lastRefresh = time.Now()
		}
	}
}

// Close stops the fsync loop, fsyncs everything written and releases the spool.
func (p *Producer) Close() error {
	p.once.Do(func() {
		close(p.stop)
		p.stopped.Wait()
		p.closeErr = p.w.close()
	})
	return p.closeErr
}

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
