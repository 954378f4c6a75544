package config

import (
	"strings"
	"testing"
)

func TestRateLimitConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  RateLimitConfig
		err  string // "" : valid
	}{
		{"off (the default)", RateLimitConfig{}, ""},
		{"in-process", RateLimitConfig{Rate: 10, Burst: 20}, ""},
		{"shared", RateLimitConfig{Rate: 10, Redis: "127.0.0.1:6379", TrustedProxies: "10.0.0.0/8, 192.168.0.1"}, ""},
		{"negative rate", RateLimitConfig{Rate: -1}, "must not be negative"},
		{"burst without rate", RateLimitConfig{Burst: 5}, "--rate-burst needs --rate-limit"},
		{"rate too small", RateLimitConfig{Rate: 1e-9}, "--rate-limit"},
		{"redis without rate", RateLimitConfig{Redis: "127.0.0.1:6379"}, "--rate-limit-redis needs --rate-limit"},
		{"redis not host:port", RateLimitConfig{Rate: 1, Redis: "redis://x"}, "not host:port"},
		{"bad proxy", RateLimitConfig{Rate: 1, TrustedProxies: "10.0.0.0/8,nope"}, "--trusted-proxies"},
	} {
		err := c.cfg.Validate()
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.err)
		}
	}
	// Burst defaults to twice the rate, rounded up, at least 1.
	for rate, want := range map[float64]int{10: 20, 0.25: 1, 1.3: 3} {
		if got := (&RateLimitConfig{Rate: rate}).Limit().Burst; got != want {
			t.Errorf("rate %v: default burst %d, want %d", rate, got, want)
		}
	}
	if got := (&RateLimitConfig{Rate: 10, Burst: 4}).Limit().Burst; got != 4 {
		t.Errorf("explicit burst overridden: %d", got)
	}
}
