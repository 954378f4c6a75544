package retry

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Policy is how a caller retries: after the n-th failure in a row it waits
// a uniformly random delay in (0, min(Max, Base·2^(n-1))] ("full jitter"),
// but at least what the server asked for (capped at Max), and it gives up
// after Attempts failed tries (0: it never gives up; ctx ends it).
type Policy struct {
	Base, Max time.Duration
	Attempts  int
}

// Ceil is the upper end of the delay after the n-th failure (n >= 1):
// min(Max, Base·2^(n-1)).
func (p Policy) Ceil(n int) time.Duration {
	c := p.Base << min(max(n-1, 0), 30)
	if c <= 0 || c > p.Max {
		c = p.Max
	}
	return c
}

// Delay is the wait after the n-th failure in a row; after is the delay a
// server asked for (0: none).
func (p Policy) Delay(n int, after time.Duration) time.Duration {
	var d time.Duration
	if c := p.Ceil(n); c > 0 {
		d = rand.N(c) + 1
	}
	return max(d, min(after, p.Max))
}

// GiveUp reports whether a caller that has failed n times in a row should
// stop.
func (p Policy) GiveUp(n int) bool { return p.Attempts > 0 && n >= p.Attempts }

// Sleep waits d, or until ctx ends (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type callerRetriesKey struct{}

// CallerRetries marks ctx: the caller retries failures under its own
// budget, so a layer below makes a single attempt per call.
func CallerRetries(ctx context.Context) context.Context {
	return context.WithValue(ctx, callerRetriesKey{}, true)
}

// ByCaller reports whether ctx was marked by CallerRetries.
func ByCaller(ctx context.Context) bool {
	v, _ := ctx.Value(callerRetriesKey{}).(bool)
	return v
}

// afterError carries the delay a server asked for with a failure.
type afterError struct {
	err   error
	after time.Duration
}

func (e *afterError) Error() string { return e.err.Error() }
func (e *afterError) Unwrap() error { return e.err }

// WithAfter attaches to err the delay a server asked for (Retry-After);
// err is returned as it is when after <= 0.
func WithAfter(err error, after time.Duration) error {
	if err == nil || after <= 0 {
		return err
	}
	return &afterError{err: err, after: after}
}

// After is the delay attached to err by WithAfter, or 0.
func After(err error) time.Duration {
	var ae *afterError
	if errors.As(err, &ae) {
		return ae.after
	}
	return 0
}

// ParseRetryAfter reads a Retry-After header value (seconds or an HTTP
// date) as a delay from now; 0 when absent, unparsable or in the past.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, 1<<31)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
