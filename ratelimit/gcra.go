package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"time"
)

// Limit is a rate of requests per second with a burst.
type Limit struct {
	// Rate is the sustained rate, in requests per second (> 0).
	Rate float64
	// Burst is how many requests may come at once after a quiet spell (>= 1).
	Burst int
}

// Bounds of a Limit: within them a whole bucket (Burst/Rate) stays below
// 2^60 ns and Redis's microsecond TATs stay exact in a Lua number.
const (
	MaxRate  = 1e6
	MinRate  = 1e-3
	MaxBurst = 1 << 20
)

// Validate explains what is wrong with l, if anything.
func (l Limit) Validate() error {
	if !(l.Rate >= MinRate && l.Rate <= MaxRate) {
		return errors.New("rate must be between 0.001 and 1000000 requests per second")
	}
	if l.Burst < 1 || l.Burst > MaxBurst {
		return errors.New("burst must be between 1 and 1048576")
	}
	return nil
}

// interval is the time one request uses up: 1/Rate.
func (l Limit) interval() time.Duration {
	return max(time.Duration(math.Ceil(float64(time.Second)/l.Rate)), 1)
}

// span is the whole bucket: Burst intervals.
func (l Limit) span() time.Duration { return l.interval() * time.Duration(l.Burst) }

// decide is GCRA: given a client's TAT (0 or in the past: a full
// bucket), it returns whether a request at now is allowed, the TAT to
// keep if it is, and otherwise how long until one would be. Times are in
// any unit, the same for all arguments.
func decide(tat, now, interval, span int64) (next int64, ok bool, wait int64) {
	tat = max(tat, now)
	next = tat + interval
	if allowAt := next - span; now < allowAt {
		return 0, false, allowAt - now
	}
	return next, true, 0
}

// maxKeyLen bounds what is stored per client: longer keys are replaced
// by their hash.
const maxKeyLen = 128

func boundKey(key string) string {
	if len(key) <= maxKeyLen {
		return key
	}
	h := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(h[:])
}
