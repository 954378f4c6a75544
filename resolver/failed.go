package resolver

import (
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// Bounds of the failed-position memory.
const (
	failedMax = 4096
	failedTTL = 5 * time.Minute
)

// failedSet remembers positions that failed lately, bounded in entries and
// time: a failure may have been transient, so the position is only put
// last, never forgotten for good. When full it starts afresh, which costs
// at most one more failed read per position.
type failedSet struct {
	mu  sync.Mutex
	max int
	ttl time.Duration
	at  map[string]time.Time
}

func newFailedSet(max int, ttl time.Duration) *failedSet {
	return &failedSet{max: max, ttl: ttl, at: map[string]time.Time{}}
}

func (f *failedSet) add(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.at) >= f.max {
		clear(f.at)
	}
	f.at[id] = time.Now()
}

func (f *failedSet) has(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.at[id]
	if ok && time.Since(t) > f.ttl {
		delete(f.at, id)
		ok = false
	}
	return ok
}

func (f *failedSet) empty() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.at) == 0
}

// recovered turns a panic in one of the resolver's goroutines into an
// error (and a log line with the stack, and a metric): a bug or a hostile
// input fails one read, never the process.
func (r *Resolver) recovered(where string, p any) error {
	r.m.panics.Inc()
	r.log.Error("recovered from a panic in the resolver", "where", where, "panic", p, "stack", string(debug.Stack()))
	return fmt.Errorf("%w: %s: %v", errPanic, where, p)
}
