package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/internal/prom"
)

// DefaultMaxEntries bounds the in-process table: about 100 bytes an
// entry, so some 6 MiB.
const DefaultMaxEntries = 1 << 16

const (
	shards     = 16
	evictProbe = 8 // entries looked at to choose one to evict
)

// LocalConfig configures a Local limiter.
type LocalConfig struct {
	// MaxEntries bounds the clients remembered; 0: DefaultMaxEntries.
	MaxEntries int
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Local limits clients in this process, in bounded memory.
type Local struct {
	interval, span int64 // ns
	now            func() time.Time
	perShard       int
	seed           maphash.Seed
	shards         [shards]shard
	limited        prometheus.Counter
	evictions      prometheus.Counter
}

type shard struct {
	mu   sync.Mutex
	tats map[string]int64 // client -> TAT in unix ns
}

// NewLocal returns an in-process limiter of lim (which must be valid).
func NewLocal(lim Limit, cfg LocalConfig, reg prometheus.Registerer) *Local {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := newMetrics(reg)
	l := &Local{
		interval: int64(lim.interval()), span: int64(lim.span()),
		now: cfg.Now, perShard: max(1, cfg.MaxEntries/shards), seed: maphash.MakeSeed(),
		limited: m.limited.WithLabelValues("local"), evictions: m.evictions,
	}
	for i := range l.shards {
		l.shards[i].tats = make(map[string]int64)
	}
	m.watch(l)
	return l
}

// Allow reports whether a request of key may be served now and, if not,
// how long until one would be.
func (l *Local) Allow(_ context.Context, key string) (bool, time.Duration) {
	key = boundKey(key)
	now := l.now().UnixNano()
	s := &l.shards[maphash.String(l.seed, key)%shards]
	s.mu.Lock()
	tat, found := s.tats[key]
	next, ok, wait := decide(tat, now, l.interval, l.span)
	if ok {
		if !found && len(s.tats) >= l.perShard {
			l.evict(s, now)
		}
		s.tats[key] = next
	}
	s.mu.Unlock()
	if !ok {
		l.limited.Inc()
	}
	return ok, time.Duration(wait)
}

// evict makes room in a full shard (locked): entries whose TAT has
// passed go, as they change no decision; if none of the sampled entries
// had, the one with the earliest TAT goes, the client nearest a full
// bucket, which loses the least of its limit.
func (l *Local) evict(s *shard, now int64) {
	var victim string
	oldest, seen, freed := int64(0), 0, false
	for k, tat := range s.tats { // map order is random: a sample
		if tat <= now {
			delete(s.tats, k)
			freed = true
		} else if seen == 0 || tat < oldest {
			victim, oldest = k, tat
		}
		if seen++; seen == evictProbe {
			break
		}
	}
	if !freed {
		delete(s.tats, victim)
		l.evictions.Inc()
	}
}

// Len returns the number of clients remembered.
func (l *Local) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.tats)
		s.mu.Unlock()
	}
	return n
}

// metrics are shared by the limiters of one registry.
type metrics struct {
	limited   *prometheus.CounterVec
	fallbacks prometheus.Counter
	evictions prometheus.Counter
	reg       prometheus.Registerer
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		reg: reg,
		limited: prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cargate_rate_limited_total",
			Help: "Requests answered 429 because their client was past its rate, by what decided it (local or redis).",
		}, []string{"source"})),
		fallbacks: prom.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cargate_rate_limit_redis_fallbacks_total",
			Help: "Requests whose rate limit was decided in-process because Redis failed, timed out, or was being left alone after a failure.",
		})),
		evictions: prom.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cargate_rate_limit_evictions_total",
			Help: "Clients dropped from the full in-process rate limit table while still short of a full bucket.",
		})),
	}
}

// watch exports the size of l's table.
func (m *metrics) watch(l *Local) {
	// A second table on one registry (tests build several): the first
	// one stays exported.
	prom.Register(m.reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cargate_rate_limit_clients",
		Help: "Clients remembered by the in-process rate limiter.",
	}, func() float64 { return float64(l.Len()) }))
}
