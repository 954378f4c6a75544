package cache

import (
	"context"
	"fmt"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
)

// Local is a bounded in-process cache from string keys to V.
type Local[V any] struct {
	c      *ristretto.Cache[string, V]
	group  singleflight.Group
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
	l := &Local[V]{c: c, hits: newCounter(reg, name, "hit"), misses: newCounter(reg, name, "miss")}
	return l, nil
}

func newCounter(reg prometheus.Registerer, name, result string) prometheus.Counter {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cargate_cache_requests_total",
		Help: "Cache lookups by cache and result (hit or miss).",
	}, []string{"cache", "result"})
	if reg != nil {
		if err := reg.Register(vec); err != nil {
			if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
				vec = are.ExistingCollector.(*prometheus.CounterVec)
			}
		}
	}
	return vec.WithLabelValues(name, result)
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
func (l *Local[V]) GetOrLoad(ctx context.Context, key string, load LoadFunc[V]) (V, error) {
	if v, ok := l.Get(key); ok {
		return v, nil
	}
	res, err, _ := l.group.Do(key, func() (any, error) {
		v, cost, ttl, err := load(ctx)
		if err != nil {
			return v, err
		}
		l.Set(key, v, cost, ttl)
		return v, nil
	})
	if err != nil {
		var zero V
		return zero, err
	}
	return res.(V), nil
}

// Wait blocks until pending Sets are applied (for tests).
func (l *Local[V]) Wait() { l.c.Wait() }

// Close releases the cache's goroutines.
func (l *Local[V]) Close() { l.c.Close() }

// Del removes key.
func (l *Local[V]) Del(key string) { l.c.Del(key) }
