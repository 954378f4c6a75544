package config

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/cargate/cargate/ratelimit"
)

// Defaults of the rate limits' Redis.
const (
	DefaultRateLimitRedisPrefix  = ratelimit.DefaultRedisPrefix
	DefaultRateLimitRedisTimeout = ratelimit.DefaultRedisTimeout
)

// RateLimitConfig holds each client of the public listener to a rate.
type RateLimitConfig struct {
	// Rate is requests per second per client; 0 turns rate limits off.
	Rate float64
	// Burst is how many requests a client may make at once; 0: twice
	// Rate, rounded up.
	Burst int
	// Redis (host:port) shares the limit between gateways; empty: each
	// process limits alone.
	Redis string
	// RedisPrefix starts the keys in Redis.
	RedisPrefix string
	// RedisTimeout bounds one decision by Redis; past it (or on any Redis
	// error) the request is decided in-process.
	RedisTimeout time.Duration
	// TrustedProxies (comma-separated CIDRs) are peers whose
	// X-Forwarded-For is believed.
	TrustedProxies string
}

// Flags registers the rate limit settings (serve, gateway).
func (c *RateLimitConfig) Flags(fs *flag.FlagSet) {
	fs.Float64Var(&c.Rate, "rate-limit", 0, "requests per second allowed to each client address (IPv6: each /64); past it 429 with Retry-After (0: off)")
	fs.IntVar(&c.Burst, "rate-burst", 0, "requests a client may make at once after a quiet spell (0: twice --rate-limit, rounded up)")
	fs.StringVar(&c.Redis, "rate-limit-redis", "", "Redis host:port holding the rate limits, so that gateways sharing it enforce one limit (empty: in-process)")
	fs.StringVar(&c.RedisPrefix, "rate-limit-redis-prefix", DefaultRateLimitRedisPrefix, "prefix of the rate limit keys in Redis (gateways sharing a limit share it)")
	fs.DurationVar(&c.RedisTimeout, "rate-limit-redis-timeout", DefaultRateLimitRedisTimeout, "longest wait for Redis's rate limit decision; past it, or on any Redis error, the request is decided in-process")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "comma-separated CIDRs of proxies whose X-Forwarded-For names the client (the rightmost untrusted hop); empty: none")
}

// Limit returns the limit configured, Burst defaulted.
func (c *RateLimitConfig) Limit() ratelimit.Limit {
	burst := c.Burst
	if burst == 0 {
		burst = max(1, int(math.Ceil(2*c.Rate)))
	}
	return ratelimit.Limit{Rate: c.Rate, Burst: burst}
}

// Validate explains what is wrong, if anything.
func (c *RateLimitConfig) Validate() error {
	var errs []error
	if c.Rate != 0 || c.Burst != 0 {
		if c.Rate < 0 || c.Burst < 0 {
			errs = append(errs, errors.New("--rate-limit and --rate-burst must not be negative (--rate-limit 0: off)"))
		} else if c.Rate == 0 {
			errs = append(errs, errors.New("--rate-burst needs --rate-limit"))
		} else if err := c.Limit().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("--rate-limit %v --rate-burst %d: %w", c.Rate, c.Burst, err))
		}
	}
	if c.Redis != "" {
		if _, port, err := net.SplitHostPort(c.Redis); err != nil {
			errs = append(errs, fmt.Errorf("--rate-limit-redis %q is not host:port: %w", c.Redis, err))
		} else if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("--rate-limit-redis %q is not host:port: bad port %q", c.Redis, port))
		}
		if c.Rate == 0 {
			errs = append(errs, errors.New("--rate-limit-redis needs --rate-limit"))
		}
	}
	if c.RedisTimeout < 0 {
		errs = append(errs, errors.New("--rate-limit-redis-timeout must not be negative (0: the default)"))
	}
	if strings.TrimSpace(c.TrustedProxies) != "" {
		if _, err := ratelimit.ParseTrusted(c.TrustedProxies); err != nil {
			errs = append(errs, fmt.Errorf("--trusted-proxies: %w", err))
		}
	}
	return errors.Join(errs...)
}
