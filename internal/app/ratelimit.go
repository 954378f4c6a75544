package app

import (
	"fmt"
	"net/http"

	"github.com/redis/go-redis/v9"

	"github.com/cargate/cargate/internal/access"
	"github.com/cargate/cargate/internal/config"
	"github.com/cargate/cargate/ratelimit"
)

// rateLimited returns the middleware holding each client of the public
// listener to --rate-limit (the identity when it is 0): in-process, or
// through --rate-limit-redis so that gateways sharing it enforce one
// limit. The Redis client is closed when n stops.
func rateLimited(cfg *config.Config, n *node) (func(http.Handler) http.Handler, error) {
	rc := cfg.RateLimit
	if rc.Rate == 0 {
		return func(h http.Handler) http.Handler { return h }, nil
	}
	trusted, err := ratelimit.ParseTrusted(rc.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	lim := rc.Limit()
	var l ratelimit.Limiter
	if rc.Redis == "" {
		l = ratelimit.NewLocal(lim, ratelimit.LocalConfig{}, n.reg)
	} else {
		// No retries and short timeouts: a dead Redis must cost a request
		// nothing; the limiter decides in-process meanwhile.
		timeout := rc.RedisTimeout
		if timeout == 0 {
			timeout = config.DefaultRateLimitRedisTimeout
		}
		client := redis.NewClient(&redis.Options{
			Addr: rc.Redis, MaxRetries: -1, ContextTimeoutEnabled: true,
			DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, PoolTimeout: timeout,
		})
		n.onStop(client.Close)
		l = ratelimit.NewRedis(client, lim, ratelimit.RedisConfig{Prefix: rc.RedisPrefix, Timeout: timeout}, n.reg, n.log)
	}
	n.log.Info("rate limits on", "rate", lim.Rate, "burst", lim.Burst, "redis", rc.Redis, "trusted_proxies", len(trusted))
	key := ratelimit.ClientKey(trusted)
	token := func(r *http.Request) string { // a token's own bucket, beside its address's
		if id := access.TokenID(access.RequestToken(r)); id != "" {
			return "token:" + id
		}
		return ""
	}
	return func(h http.Handler) http.Handler { return ratelimit.Middleware(h, l, key, token) }, nil
}
