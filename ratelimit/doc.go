// Package ratelimit holds each client of the public listener to a rate of
// requests: a client past its rate is answered 429 Too Many Requests with
// Retry-After, before any work is done for it.
//
// The limit is a token bucket of Rate requests per second and Burst
// requests at once, computed as GCRA (the generic cell rate algorithm):
// per client one number is kept, the theoretical arrival time (TAT) of
// its next request if it used its rate exactly. A request at now is
// allowed when TAT - Burst/Rate + 1/Rate <= now, and then moves TAT to
// max(TAT, now) + 1/Rate. A TAT in the past is the same as a full bucket,
// so a client idle long enough needs no memory at all.
//
// # Usage
//
// Local keeps the TATs in this process. Its memory is bounded whatever
// the number of distinct clients: a fixed number of entries (MaxEntries)
// split over shards; inserting into a full shard first drops entries
// whose TAT has passed (which changes no decision), else the entry with
// the earliest TAT among a small random sample, that is the client
// closest to a full bucket. A client being limited has a late TAT, so an
// attacker cycling addresses evicts its own fresh entries long before
// it evicts a client it is holding back.
//
// Redis keeps the TATs in Redis, one key per client, updated by one Lua
// script run atomically on Redis's own clock, so every gateway sharing
// the Redis enforces one limit. Each key expires when its TAT passes.
// When Redis fails or does not answer within Timeout the request is
// decided by a Local limiter instead (each gateway then enforces the
// limit on its own), Redis is left alone for RetryInterval, and the
// failure is logged at most once per LogInterval: a dead Redis never
// fails or holds up a request.
//
// Middleware applies a Limiter to an http.Handler; ClientKey names the
// client of a request: its address, IPv6 grouped by /64 (one subscriber
// usually holds a whole /64), and X-Forwarded-For believed only from
// trusted proxies.
//
// # Metrics
//
//   - cargate_rate_limited_total{source}: requests refused, by what
//     decided it (local or redis);
//   - cargate_rate_limit_redis_fallbacks_total: requests decided locally
//     because Redis failed or was being left alone after a failure;
//   - cargate_rate_limit_clients: entries of the in-process table;
//   - cargate_rate_limit_evictions_total: entries dropped from a full
//     table while still holding back their client.
package ratelimit
