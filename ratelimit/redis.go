package ratelimit

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Defaults of a Redis limiter.
const (
	// DefaultRedisTimeout bounds one decision by Redis: past it the
	// request is decided locally.
	DefaultRedisTimeout = 50 * time.Millisecond
	// DefaultRetryInterval is how long Redis is left alone after a failure.
	DefaultRetryInterval = time.Second
	// DefaultLogInterval spaces the logs of Redis failures.
	DefaultLogInterval = time.Minute
	// DefaultRedisPrefix starts every key.
	DefaultRedisPrefix = "cargate:ratelimit:"
)

// gcraScript is decide in Lua, on Redis's clock, in microseconds. KEYS[1]
// holds the client's TAT; ARGV are the interval and the span. It returns
// 0 when the request is allowed (and stores the new TAT, expiring when it
// passes), else the microseconds until one would be. Stored numbers are
// formatted with %.0f: Lua 5.1 prints large ones in exponent form.
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local span = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local nxt = tat + interval
local allow_at = nxt - span
if now < allow_at then return allow_at - now end
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', string.format('%.0f', math.ceil((nxt - now) / 1000)))
return 0
`)

// RedisConfig configures a Redis limiter.
type RedisConfig struct {
	// Prefix starts every key; "": DefaultRedisPrefix. Gateways sharing a
	// limit share the prefix (and the Limit).
	Prefix string
	// Timeout bounds one decision by Redis; 0: DefaultRedisTimeout.
	Timeout time.Duration
	// RetryInterval is how long Redis is left alone after a failure;
	// 0: DefaultRetryInterval.
	RetryInterval time.Duration
	// LogInterval spaces failure logs; 0: DefaultLogInterval.
	LogInterval time.Duration
	// Local configures the in-process fallback.
	Local LocalConfig
}

// Redis limits clients through a Redis shared by several gateways.
type Redis struct {
	client         redis.Scripter
	cfg            RedisConfig
	interval, span int64 // µs
	fallback       *Local
	log            *slog.Logger
	limited        prometheus.Counter
	fallbacks      prometheus.Counter
	downUntil      atomic.Int64 // unix ns; 0: Redis is used
	lastLog        atomic.Int64 // unix ns of the last failure log
}

// NewRedis returns a limiter of lim (which must be valid) keeping its
// state in client.
func NewRedis(client redis.Scripter, lim Limit, cfg RedisConfig, reg prometheus.Registerer, log *slog.Logger) *Redis {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultRedisPrefix
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultRedisTimeout
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.LogInterval <= 0 {
		cfg.LogInterval = DefaultLogInterval
	}
	m := newMetrics(reg)
	us := func(d time.Duration) int64 { return max(int64((d+time.Microsecond-1)/time.Microsecond), 1) }
	return &Redis{
		client: client, cfg: cfg, interval: us(lim.interval()), span: us(lim.interval()) * int64(lim.Burst),
		fallback: NewLocal(lim, cfg.Local, reg), log: log,
		limited: m.limited.WithLabelValues("redis"), fallbacks: m.fallbacks,
	}
}

// Allow reports whether a request of key may be served now and, if not,
// how long until one would be. It asks Redis, or the in-process fallback
// when Redis failed lately.
func (r *Redis) Allow(ctx context.Context, key string) (bool, time.Duration) {
	now := time.Now().UnixNano()
	if down := r.downUntil.Load(); down != 0 {
		// Left alone until down; then one request (the one that moves
		// down on) tries Redis again while the others stay local.
		if now < down || !r.downUntil.CompareAndSwap(down, now+int64(r.cfg.RetryInterval)) {
			r.fallbacks.Inc()
			return r.fallback.Allow(ctx, key)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	wait, err := gcraScript.Run(rctx, r.client, []string{r.cfg.Prefix + boundKey(key)}, r.interval, r.span).Int64()
	cancel()
	if err != nil {
		r.fallbacks.Inc()
		if ctx.Err() == nil { // not the client going away: Redis failed
			r.downUntil.Store(time.Now().UnixNano() + int64(r.cfg.RetryInterval))
			r.logFailure(err)
		}
		return r.fallback.Allow(ctx, key)
	}
	if r.downUntil.Load() != 0 {
		r.downUntil.Store(0)
	}
	if wait > 0 {
		r.limited.Inc()
		return false, time.Duration(wait) * time.Microsecond
	}
	return true, 0
}

// logFailure logs err unless a failure was logged within LogInterval.
func (r *Redis) logFailure(err error) {
	now := time.Now().UnixNano()
	last := r.lastLog.Load()
	if last != 0 && now-last < int64(r.cfg.LogInterval) || !r.lastLog.CompareAndSwap(last, now) {
		return
	}
	if r.log != nil {
		r.log.Warn("rate limit: Redis failed; deciding in-process (each gateway alone) until it answers", "err", err, "retry_every", r.cfg.RetryInterval)
	}
}
