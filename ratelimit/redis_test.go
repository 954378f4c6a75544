package ratelimit

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// sharedRedis is a client of the Redis at 127.0.0.1:6379 and a key
// prefix of this test alone. Without Redis the test skips, or fails in
// CI.
func sharedRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DialTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		msg := "Redis at 127.0.0.1:6379 unreachable (scripts/services.sh start): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	prefix := fmt.Sprintf("cargate-test:%s:%d:", t.Name(), time.Now().UnixNano())
	t.Cleanup(func() {
		keys, _ := c.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(context.Background(), keys...)
		}
	})
	return c, prefix
}

// Two limiters over one Redis (two gateways) enforce one limit.
func TestRedisSharedLimit(t *testing.T) {
	c, prefix := sharedRedis(t)
	// One request per 1000 s: no refill while the test runs.
	lim := Limit{Rate: 0.001, Burst: 3}
	cfg := RedisConfig{Prefix: prefix, Timeout: 2 * time.Second} // generous: a loaded machine is not a Redis failure
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a := NewRedis(c, lim, cfg, regA, nil)
	b := NewRedis(redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"}), lim, cfg, regB, nil)
	ctx := context.Background()

	allowed := 0
	for i := range 6 {
		l := a
		if i%2 == 1 {
			l = b
		}
		if ok, _ := l.Allow(ctx, "192.0.2.1"); ok {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("%d of 6 requests split over two limiters allowed, want the burst of 3 in all", allowed)
	}
	ok, wait := b.Allow(ctx, "192.0.2.1")
	if ok || wait < 990*time.Second || wait > 1000*time.Second {
		t.Fatalf("past the shared burst: ok %v wait %v, want refused for about 1000s", ok, wait)
	}
	if ok, _ := a.Allow(ctx, "192.0.2.2"); !ok {
		t.Fatal("another client refused")
	}
	if n := value(t, a.limited) + value(t, b.limited); n != 4 {
		t.Fatalf("cargate_rate_limited_total{source=redis} = %v over both, want 4", n)
	}
	if n := value(t, a.fallbacks) + value(t, b.fallbacks); n != 0 {
		t.Fatalf("%v fallbacks with Redis up", n)
	}
	// The key expires when its TAT passes: no Redis memory for idle clients.
	ttl, err := c.PTTL(ctx, prefix+"192.0.2.1").Result()
	if err != nil || ttl <= 0 || ttl > 3000*time.Second {
		t.Fatalf("key TTL %v (%v), want set and at most the bucket's span", ttl, err)
	}
}

// Many concurrent requests through two limiters still let exactly the
// burst through: the script is atomic.
func TestRedisAtomic(t *testing.T) {
	c, prefix := sharedRedis(t)
	lim := Limit{Rate: 0.001, Burst: 5}
	cfg := RedisConfig{Prefix: prefix, Timeout: 5 * time.Second}
	ls := []*Redis{NewRedis(c, lim, cfg, prometheus.NewRegistry(), nil), NewRedis(c, lim, cfg, prometheus.NewRegistry(), nil)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for i := range 40 {
		wg.Go(func() {
			if ok, _ := ls[i%2].Allow(context.Background(), "k"); ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if allowed != 5 {
		t.Fatalf("%d of 40 concurrent requests allowed, want 5", allowed)
	}
	for _, l := range ls {
		if n := value(t, l.fallbacks); n != 0 {
			t.Fatalf("%v requests fell back: the test checked the local limiter, not Redis", n)
		}
	}
}

// Redis down: requests are decided in-process (and still limited), each
// one counted, and none waits on Redis.
func TestRedisDownFallsBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // a closed port: connections are refused
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	reg := prometheus.NewRegistry()
	l := NewRedis(c, Limit{Rate: 0.001, Burst: 2}, RedisConfig{Prefix: "x:"}, reg, nil)
	allowed := 0
	for range 5 {
		if ok, _ := l.Allow(context.Background(), "192.0.2.1"); ok {
			allowed++
		}
	}
	if allowed != 2 {
		t.Fatalf("Redis down: %d of 5 allowed, want the burst of 2 (decided in-process)", allowed)
	}
	if n := value(t, l.fallbacks); n != 5 {
		t.Fatalf("cargate_rate_limit_redis_fallbacks_total = %v, want 5", n)
	}
	if n := value(t, l.fallback.limited); n != 3 {
		t.Fatalf("cargate_rate_limited_total{source=local} = %v, want 3", n)
	}
	if n := value(t, l.limited); n != 0 {
		t.Fatalf("cargate_rate_limited_total{source=redis} = %v with Redis down", n)
	}
}

// A Redis that accepts connections and never answers: the request is
// decided in-process after Timeout instead of hanging.
func TestRedisHungFallsBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	// No timeout of its own: only the limiter's deadline can end the wait.
	c := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1, ContextTimeoutEnabled: true, ReadTimeout: -1, WriteTimeout: -1})
	defer c.Close()
	l := NewRedis(c, Limit{Rate: 0.001, Burst: 1}, RedisConfig{Prefix: "x:", RetryInterval: time.Hour}, prometheus.NewRegistry(), nil)
	done := make(chan [2]bool, 1)
	go func() {
		a, _ := l.Allow(context.Background(), "k")
		b, _ := l.Allow(context.Background(), "k")
		done <- [2]bool{a, b}
	}()
	select {
	case got := <-done:
		if got != [2]bool{true, false} {
			t.Fatalf("hung Redis: decisions %v, want the burst of 1 in-process then refused", got)
		}
	case <-time.After(30 * time.Second): // hang guard only
		t.Fatal("Allow hung on a Redis that does not answer")
	}
	if n := value(t, l.fallbacks); n != 2 {
		t.Fatalf("fallbacks %v, want 2", n)
	}
}
