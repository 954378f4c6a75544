package cache

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/multiformats/go-multihash"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/storacha/go-ucanto/core/delegation"

	"github.com/cargate/cargate/internal/prom"
)

// Finder is a source of claims about a multihash (the indexer's
// ClaimFinder, declared here so the cache does not import the indexer).
type Finder interface {
	FindClaims(ctx context.Context, digest multihash.Multihash) ([]delegation.Delegation, error)
}

// RedisClient is the part of go-redis the tier calls; a *redis.Client, a
// *redis.ClusterClient and a redis.UniversalClient all satisfy it.
type RedisClient interface {
	Get(ctx context.Context, key string) *redis.StringCmd
	Set(ctx context.Context, key string, value any, ttl time.Duration) *redis.StatusCmd
	Ping(ctx context.Context) *redis.StatusCmd
}

// RedisConfig tunes the Redis tier.
type RedisConfig struct {
	// Prefix starts every key, so that several tiers share one Redis.
	Prefix string
	// TTL keeps found claims.
	TTL time.Duration
	// NegativeTTL keeps "nothing found" (short, so new claims show soon).
	NegativeTTL time.Duration
	// Timeout bounds each Redis call.
	Timeout time.Duration
	// Backoff is how long Redis is skipped after a failed call, so a dead
	// Redis costs one timeout per Backoff, not one per lookup.
	Backoff time.Duration
	// LogEvery bounds how often "Redis down" is logged.
	LogEvery time.Duration
}

// Defaults for RedisConfig.
const (
	DefaultRedisTTL         = time.Hour
	DefaultRedisNegativeTTL = 10 * time.Second
	DefaultRedisTimeout     = 200 * time.Millisecond
	DefaultRedisBackoff     = time.Second
	DefaultRedisLogEvery    = 30 * time.Second
)

// maxCachedBytes bounds a cached value read back from Redis.
const maxCachedBytes = 64 << 20

// Redis is a Finder that keeps another Finder's answers in Redis. Errors
// are never cached; when Redis fails, lookups fall through to the wrapped
// Finder and the failure is logged at most once per LogEvery.
type Redis struct {
	next      Finder
	rdb       RedisClient
	cfg       RedisConfig
	log       *slog.Logger
	downUntil atomic.Int64 // unix nanos; Redis is skipped before it
	lastLog   atomic.Int64
	healthy   atomic.Bool
	results   *prometheus.CounterVec
}

// NewRedis wraps next with a Redis tier over rdb. reg may be nil.
func NewRedis(next Finder, rdb RedisClient, cfg RedisConfig, reg prometheus.Registerer, log *slog.Logger) *Redis {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultRedisTTL
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = DefaultRedisNegativeTTL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultRedisTimeout
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultRedisBackoff
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = DefaultRedisLogEvery
	}
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cargate_redis_cache_lookups_total",
		Help: "Redis tier lookups by result: hit, negative_hit, miss, error (Redis failed or skipped).",
	}, []string{"tier", "result"})
	vec = prom.Register(reg, vec)
	r := &Redis{next: next, rdb: rdb, cfg: cfg, log: log, results: vec}
	r.healthy.Store(true)
	return r
}

// Healthy reports whether the last Redis call succeeded.
func (r *Redis) Healthy() bool { return r.healthy.Load() }

// Ping checks Redis now (for /readyz).
func (r *Redis) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	err := r.rdb.Ping(ctx).Err()
	r.observe(err)
	return err
}

// FindClaims implements Finder.
func (r *Redis) FindClaims(ctx context.Context, digest multihash.Multihash) ([]delegation.Delegation, error) {
	key := r.cfg.Prefix + digest.B58String()
	if ds, ok := r.get(ctx, key); ok {
		return ds, nil
	}
	ds, err := r.next.FindClaims(ctx, digest)
	if err != nil {
		return nil, err
	}
	r.set(ctx, key, ds)
	return ds, nil
}

// get returns the cached answer, ok false on a miss or a Redis failure.
func (r *Redis) get(ctx context.Context, key string) ([]delegation.Delegation, bool) {
	if r.skipping() {
		r.results.WithLabelValues(r.cfg.Prefix, "error").Inc()
		return nil, false
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	b, err := r.rdb.Get(cctx, key).Bytes()
	cancel()
	if errors.Is(err, redis.Nil) {
		r.observe(nil)
		r.results.WithLabelValues(r.cfg.Prefix, "miss").Inc()
		return nil, false
	}
	if err != nil {
		r.observe(err)
		r.results.WithLabelValues(r.cfg.Prefix, "error").Inc()
		return nil, false
	}
	r.observe(nil)
	ds, err := decodeClaims(b)
	if err != nil {
		r.log.Warn("redis tier: dropping a corrupt entry", "key", key, "err", err)
		return nil, false
	}
	if len(ds) == 0 {
		r.results.WithLabelValues(r.cfg.Prefix, "negative_hit").Inc()
	} else {
		r.results.WithLabelValues(r.cfg.Prefix, "hit").Inc()
	}
	return ds, true
}

func (r *Redis) set(ctx context.Context, key string, ds []delegation.Delegation) {
	if r.skipping() {
		return
	}
	b, err := encodeClaims(ds)
	if err != nil {
		r.log.Warn("redis tier: cannot encode claims", "key", key, "err", err)
		return
	}
	ttl := r.cfg.TTL
	if len(ds) == 0 {
		ttl = r.cfg.NegativeTTL
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Timeout)
	defer cancel()
	r.observe(r.rdb.Set(cctx, key, b, ttl).Err())
}

func (r *Redis) skipping() bool { return time.Now().UnixNano() < r.downUntil.Load() }

// observe records the outcome of a Redis call: a failure marks Redis down
// for Backoff and is logged at most once per LogEvery.
func (r *Redis) observe(err error) {
	if err == nil {
		if !r.healthy.Swap(true) {
			r.log.Info("redis tier: Redis is reachable again")
		}
		return
	}
	now := time.Now()
	r.healthy.Store(false)
	r.downUntil.Store(now.Add(r.cfg.Backoff).UnixNano())
	last := r.lastLog.Load()
	if now.UnixNano()-last >= int64(r.cfg.LogEvery) && r.lastLog.CompareAndSwap(last, now.UnixNano()) {
		r.log.Warn("redis tier: Redis unavailable, answering from the wrapped source", "err", err, "next_log_in", r.cfg.LogEvery)
	}
}

// encodeClaims writes each claim's archive, length-prefixed (uvarint).
// No claims encodes to an empty value: the negative entry.
func encodeClaims(ds []delegation.Delegation) ([]byte, error) {
	var buf bytes.Buffer
	for _, d := range ds {
		b, err := io.ReadAll(d.Archive())
		if err != nil {
			return nil, err
		}
		buf.Write(binary.AppendUvarint(nil, uint64(len(b))))
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

func decodeClaims(b []byte) ([]delegation.Delegation, error) {
	if len(b) > maxCachedBytes {
		return nil, fmt.Errorf("entry of %d bytes is too large", len(b))
	}
	var out []delegation.Delegation
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, errors.New("bad length prefix")
		}
		d, err := delegation.Extract(b[k : k+int(n)])
		if err != nil {
			return nil, err
		}
		out = append(out, d)
		b = b[k+int(n):]
	}
	return out, nil
}
