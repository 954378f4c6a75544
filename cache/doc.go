// Package cache holds cargate's caches: a bounded in-process tier
// (ristretto) that collapses identical concurrent loads into one and keeps
// misses briefly (negative caching), and, for claims shared by many
// processes, a Redis tier beneath it.
//
// Content under a CID never changes, so entries about content need no
// invalidation; only "not found" answers expire.
//
// A collapsed load belongs to no one caller: it keeps running while any
// caller waits for it and is cancelled when the last one leaves, so one
// client hanging up never fails the others asking for the same thing.
//
// # Usage
//
//	c, err := cache.NewLocal[*Node]("nodes", 64<<20, reg)
//	v, err := c.GetOrLoad(ctx, key, func(ctx context.Context) (*Node, int64, time.Duration, error) { ... })
//
// # Metrics
//
// cargate_cache_requests_total{cache, result="hit|miss"}.
package cache
