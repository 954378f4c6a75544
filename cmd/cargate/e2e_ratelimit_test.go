package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The limits of these tests: a burst of 3, then one request per 100 s, so
// no request is earned back while a test runs and counts are exact
// however slow the machine.
var rateFlags = []string{"--rate-limit", "0.01", "--rate-burst", "3"}

// clientFrom is an HTTP client whose connections leave from src (Linux
// routes all of 127/8 to the loopback interface).
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 30 * time.Second}
}

// getFrom does a GET with c and returns the status, Retry-After and body.
func getFrom(t *testing.T, c *http.Client, url string, hdr ...string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := readAllLimit(resp)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(body)
}

// metric returns the value of the sample named exactly series (name and
// labels as /metrics prints them), 0 when absent.
func metric(t *testing.T, metricsAddr, series string) float64 {
	t.Helper()
	_, body := fetch(t, "GET", "http://"+metricsAddr+"/metrics")
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

func rateLimitedContent(t *testing.T, dataDirs ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "limited.txt")
	os.WriteFile(f, []byte("served within the rate"), 0o644)
	var root string
	for _, d := range dataDirs {
		root = importRoots(t, d, f)[0]
	}
	return root
}

// TestRateLimit: a client over its rate gets 429 with Retry-After while
// another keeps being served; X-Forwarded-For names the client only when
// a trusted proxy sent it.
func TestRateLimit(t *testing.T) {
	data := t.TempDir()
	root := rateLimitedContent(t, data)
	ops := freeAddr(t)
	s := startServe(t, data, slices.Concat(rateFlags, []string{"--trusted-proxies", "127.0.0.3/32", "--metrics-listen", ops})...)
	url := s.url + "/ipfs/" + root
	a, b, proxy := clientFrom("127.0.0.1"), clientFrom("127.0.0.2"), clientFrom("127.0.0.3")

	// Client a spends its burst; what it writes in X-Forwarded-For does not
	// make it someone else.
	for i := range 3 {
		if code, _, body := getFrom(t, a, url, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i)); code != 200 || body != "served within the rate" {
			t.Fatalf("request %d of the burst: %d %q", i+1, code, body)
		}
	}
	code, retry, body := getFrom(t, a, url, "X-Forwarded-For", "198.51.100.99")
	secs, err := strconv.Atoi(retry)
	if code != http.StatusTooManyRequests || err != nil || secs < 1 || secs > 100 {
		t.Fatalf("past the burst: %d, Retry-After %q; want 429 and 1..100 seconds", code, retry)
	}
	if strings.Contains(body, "served within") || len(body) > 200 {
		t.Fatalf("429 body: %q", body)
	}
	if code, _, _ := getFrom(t, a, s.url+"/healthz"); code != 200 {
		t.Fatalf("/healthz of a limited client: %d", code)
	}
	// Another address is unaffected.
	if code, _, _ := getFrom(t, b, url); code != 200 {
		t.Fatalf("another client: %d", code)
	}
	// Behind the trusted proxy, clients are told apart by the hop it appended.
	for i := range 3 {
		if code, _, _ := getFrom(t, proxy, url, "X-Forwarded-For", "10.0.0.1"); code != 200 {
			t.Fatalf("request %d of 10.0.0.1 through the proxy: %d", i+1, code)
		}
	}
	if code, _, _ := getFrom(t, proxy, url, "X-Forwarded-For", "10.0.0.1"); code != http.StatusTooManyRequests {
		t.Fatalf("10.0.0.1 past its burst through the proxy: %d", code)
	}
	// A forged left part is not believed: this is 10.0.0.2, a new client.
	if code, _, _ := getFrom(t, proxy, url, "X-Forwarded-For", "10.0.0.1, 10.0.0.2"); code != 200 {
		t.Fatalf("10.0.0.2 through the proxy: %d", code)
	}

	if n := metric(t, ops, `cargate_rate_limited_total{source="local"}`); n != 2 {
		t.Fatalf(`cargate_rate_limited_total{source="local"} = %v, want 2`, n)
	}
	if n := metric(t, ops, "cargate_rate_limit_clients"); n != 4 {
		t.Fatalf("cargate_rate_limit_clients = %v, want 4 (127.0.0.1, 127.0.0.2, 10.0.0.1, 10.0.0.2)", n)
	}
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cargate_rate_limited_total", "cargate_rate_limit_redis_fallbacks_total", "cargate_rate_limit_clients", "cargate_rate_limit_evictions_total"} {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/metrics.md lacks %s", name)
		}
	}
}

// TestRateLimitSharedRedis: two gateways sharing a Redis enforce one
// limit; with Redis gone each still limits, alone, and serves.
func TestRateLimitSharedRedis(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		msg := "Redis at 127.0.0.1:6379 unreachable (scripts/services.sh start): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	prefix := fmt.Sprintf("cargate-e2e:%d:", time.Now().UnixNano())
	t.Cleanup(func() {
		if keys, _ := rdb.Keys(context.Background(), prefix+"*").Result(); len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	d1, d2 := t.TempDir(), t.TempDir()
	root := rateLimitedContent(t, d1, d2)
	// A generous timeout: a slow answer on a loaded machine must not be
	// taken for a dead Redis (the fallback count below checks it was not).
	shared := slices.Concat(rateFlags, []string{"--rate-limit-redis", "127.0.0.1:6379", "--rate-limit-redis-prefix", prefix, "--rate-limit-redis-timeout", "10s"})
	ops1, ops2 := freeAddr(t), freeAddr(t)
	g1 := startServe(t, d1, slices.Concat(shared, []string{"--metrics-listen", ops1})...)
	g2 := startServe(t, d2, slices.Concat(shared, []string{"--metrics-listen", ops2})...)

	a := clientFrom("127.0.0.1")
	ok, limited := 0, 0
	for i := range 6 {
		g := g1
		if i%2 == 1 {
			g = g2
		}
		switch code, _, _ := getFrom(t, a, g.url+"/ipfs/"+root); code {
		case 200:
			ok++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("request %d: status %d", i+1, code)
		}
	}
	if ok != 3 || limited != 3 {
		t.Fatalf("6 requests split over two gateways: %d served, %d limited; want 3 and 3 (one shared burst)", ok, limited)
	}
	b := clientFrom("127.0.0.2")
	for _, g := range []*server{g1, g2} {
		if code, _, _ := getFrom(t, b, g.url+"/ipfs/"+root); code != 200 {
			t.Fatalf("another client: %d", code)
		}
	}
	fallbacks := metric(t, ops1, "cargate_rate_limit_redis_fallbacks_total") + metric(t, ops2, "cargate_rate_limit_redis_fallbacks_total")
	byRedis := metric(t, ops1, `cargate_rate_limited_total{source="redis"}`) + metric(t, ops2, `cargate_rate_limited_total{source="redis"}`)
	if fallbacks != 0 || byRedis != 3 {
		t.Fatalf("%v fallbacks and %v refusals by Redis, want 0 and 3", fallbacks, byRedis)
	}

	// Redis unreachable: requests are neither failed nor held; the
	// gateway limits in-process and counts each fallback.
	g1.stop(t)          // frees d1
	dead := freeAddr(t) // closed once freeAddr returns
	ops3 := freeAddr(t)
	g3 := startServe(t, d1, slices.Concat(rateFlags, []string{"--rate-limit-redis", dead, "--metrics-listen", ops3})...)
	ok, limited = 0, 0
	for range 4 {
		switch code, _, _ := getFrom(t, a, g3.url+"/ipfs/"+root); code {
		case 200:
			ok++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("Redis down: status %d", code)
		}
	}
	if ok != 3 || limited != 1 {
		t.Fatalf("Redis down: %d served, %d limited; want 3 and 1 (the in-process limit)", ok, limited)
	}
	if n := metric(t, ops3, "cargate_rate_limit_redis_fallbacks_total"); n != 4 {
		t.Fatalf("cargate_rate_limit_redis_fallbacks_total = %v with Redis down, want 4", n)
	}
	g3.stop(t) // the log is written until the process ends
	if !strings.Contains(g3.log.String(), "rate limit: Redis failed") {
		t.Fatalf("Redis failure not logged:\n%s", g3.log)
	}
}
