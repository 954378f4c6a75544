package cache

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/internal/prom"
)

// Local is a bounded in-process cache from string keys to V.
type Local[V any] struct {
	c      *ristretto.Cache[string, V]
	mu     sync.Mutex
	loads  map[string]*load[V] // loads in flight, by key
	hits   prometheus.Counter
	misses prometheus.Counter
}

// LoadFunc loads a value missing from the cache. It returns the value, its
// cost (bytes, roughly) and how long to keep it (0: until evicted).
type LoadFunc[V any] func(ctx context.Context) (v V, cost int64, ttl time.Duration, err error)

// NewLocal returns a cache named name (for metrics) holding at most maxCost
// worth of entries. reg may be nil.
func NewLocal[V any](name string, maxCost int64, reg prometheus.Registerer) (*Local[V], error) {
	counters := maxCost / 256
	if counters < 1000 {
		counters = 1000
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, V]{
		NumCounters: counters,
		MaxCost:     maxCost,
		BufferItems: 64,
	})
	if err != nil {
		return nil, fmt.Errorf("cache %s: %w", name, err)
	}
	l := &Local[V]{c: c, loads: map[string]*load[V]{}, hits: newCounter(reg, name, "hit"), misses: newCounter(reg, name, "miss")}
	return l, nil
}

func newCounter(reg prometheus.Registerer, name, result string) prometheus.Counter {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cargate_cache_requests_total",
		Help: "Cache lookups by cache and result (hit or miss).",
	}, []string{"cache", "result"})
	return prom.Register(reg, vec).WithLabelValues(name, result)
}

// Get returns the cached value for key.
func (l *Local[V]) Get(key string) (V, bool) {
	v, ok := l.c.Get(key)
	if ok {
		l.hits.Inc()
	} else {
		l.misses.Inc()
	}
	return v, ok
}

// Set stores v under key; ttl 0 keeps it until evicted. The cache may
// decline to keep it (admission policy): callers never rely on a Set.
func (l *Local[V]) Set(key string, v V, cost int64, ttl time.Duration) {
	if ttl > 0 {
		l.c.SetWithTTL(key, v, cost, ttl)
		return
	}
	l.c.Set(key, v, cost)
}

// GetOrLoad returns the cached value for key or loads it, collapsing
// concurrent loads of the same key into one call of load.
//
// The shared load belongs to no one caller: it runs under a context that
// keeps the first caller's values but not its cancellation or deadline,
// goes on while any caller still waits for it, and is cancelled when the
// last one has left. A caller that leaves gets its own context's error;
// the others are unaffected.
func (l *Local[V]) GetOrLoad(ctx context.Context, key string, load LoadFunc[V]) (V, error) {
	if v, ok := l.Get(key); ok {
		return v, nil
	}
	f := l.join(ctx, key, load)
	select {
	case <-f.done:
		return f.v, f.err
	case <-ctx.Done():
		l.leave(key, f)
		var zero V
		return zero, ctx.Err()
	}
}

// load is one load in flight and the callers waiting for it.
type load[V any] struct {
	done    chan struct{}
	v       V
	err     error
	waiters int // guarded by Local.mu
	cancel  context.CancelFunc
}

// join adds the caller to key's load in flight, starting one if none is.
func (l *Local[V]) join(ctx context.Context, key string, fn LoadFunc[V]) *load[V] {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f, ok := l.loads[key]; ok {
		f.waiters++
		return f
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &load[V]{done: make(chan struct{}), waiters: 1, cancel: cancel}
	l.loads[key] = f
	go l.run(lctx, key, f, fn)
	return f
}

func (l *Local[V]) run(ctx context.Context, key string, f *load[V], fn LoadFunc[V]) {
	defer f.cancel()
	v, cost, ttl, err := fn(ctx)
	if err == nil {
		l.Set(key, v, cost, ttl)
	}
	f.v, f.err = v, err
	l.mu.Lock()
	if l.loads[key] == f {
		delete(l.loads, key)
	}
	l.mu.Unlock()
	close(f.done)
}

// leave takes a caller off key's load; the last one to leave cancels it,
// and the next caller starts afresh.
func (l *Local[V]) leave(key string, f *load[V]) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f.waiters--; f.waiters > 0 {
		return
	}
	f.cancel()
	if l.loads[key] == f {
		delete(l.loads, key)
	}
}

// Wait blocks until pending Sets are applied (for tests).
func (l *Local[V]) Wait() { l.c.Wait() }

// Close releases the cache's goroutines.
func (l *Local[V]) Close() { l.c.Close() }

// Del removes key.
func (l *Local[V]) Del(key string) { l.c.Del(key) }
