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
// seconds (rounded up, at least 1), to requests whose client (named by
// key) is past its rate; others go to next. Health checks (/healthz,
// /readyz) are always answered and use up nothing.
func Middleware(next http.Handler, l Limiter, key func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		ok, wait := l.Allow(r.Context(), key(r))
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Retry-After", strconv.FormatInt(RetryAfterSeconds(wait), 10))
		http.Error(w, "too many requests from your address: retry later", http.StatusTooManyRequests)
	})
}

// RetryAfterSeconds is wait in whole seconds, rounded up, at least 1.
func RetryAfterSeconds(wait time.Duration) int64 {
	return max(int64((wait+time.Second-1)/time.Second), 1)
}
