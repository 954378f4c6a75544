package config

import (
	"flag"
	"strings"
	"testing"
)

// TestValidate checks each invalid setting is named in words a user can act on.
func TestValidate(t *testing.T) {
	valid := func() *Config {
		c := &Config{}
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		c.Flags(fs, "data-dir", "listen", "metrics-listen", "shard-size", "log-format", "did-web")
		c.Egress.Flags(fs, "report")
		if err := fs.Parse(nil); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	cases := []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.DataDir = "" }, "--data-dir"},
		{func(c *Config) { c.Listen = "8080" }, "--listen"},
		{func(c *Config) { c.MetricsListen = "nope" }, "--metrics-listen"},
		{func(c *Config) { c.ShardSize = 10 }, "--shard-size"},
		{func(c *Config) { c.LogFormat = "xml" }, "--log-format"},
		{func(c *Config) { c.DIDWeb = "did:key:abc" }, "--did-web"},
		{func(c *Config) { c.Egress.From = "yesterday" }, "--from"},
	}
	for _, tc := range cases {
		c := valid()
		tc.change(c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error naming %s, got %v", tc.want, err)
		}
	}
}
