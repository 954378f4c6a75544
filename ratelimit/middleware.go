package ratelimit

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// Limiter decides whether a client's request may be served now and, if
// not, how long until one would be. Local and Redis are Limiters.
type Limiter interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration)
}

var (
	_ Limiter = (*Local)(nil)
	_ Limiter = (*Redis)(nil)
)

// Middleware answers 429 Too Many Requests, with Retry-After in whole
// seconds (rounded up, at least 1), to requests past the rate of any of
// the buckets keys name (the client's address; its token, when it shows
// one; a key function answering "" names no bucket); others go to next.
// Health checks (/healthz, /readyz) are always answered and use up
// nothing.
func Middleware(next http.Handler, l Limiter, keys ...func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		for _, key := range keys {
			k := key(r)
			if k == "" {
				continue
			}
			if ok, wait := l.Allow(r.Context(), k); !ok {
				w.Header().Set("Retry-After", strconv.FormatInt(RetryAfterSeconds(wait), 10))
				http.Error(w, "too many requests: retry later", http.StatusTooManyRequests)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// RetryAfterSeconds is wait in whole seconds, rounded up, at least 1.
func RetryAfterSeconds(wait time.Duration) int64 {
	return max(int64((wait+time.Second-1)/time.Second), 1)
}
