package config

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/cargate/cargate/names"
)

// DefaultNameRoutingTimeout bounds one remote IPNS record lookup.
const DefaultNameRoutingTimeout = names.DefaultRoutingTimeout

// NamesConfig configures how the gateway resolves /ipns/ names and
// DNSLink hosts.
type NamesConfig struct {
	// RoutingURLs (comma-separated) are delegated routing v1 endpoints
	// asked for IPNS records, besides the data dir's own record store.
	RoutingURLs string
	// RoutingTimeout bounds one remote record lookup.
	RoutingTimeout time.Duration
	// DNSLink is a static map NAME=/ipfs/CID,NAME2=/ipns/KEY answered
	// before DNS.
	DNSLink string
	// DNSLinkFile holds more entries of the static map, one NAME=PATH a
	// line (# comments); --dnslink entries win over it.
	DNSLinkFile string
	// DNSLinkDNS allows _dnslink TXT lookups in DNS for names not in DNSLink.
	DNSLinkDNS bool
	// MaxCacheTTL caps how long a name resolution is reused; 0: the
	// record's (or DNS answer's) TTL alone decides.
	MaxCacheTTL time.Duration
}

// Flags registers the name settings (serve, gateway).
func (c *NamesConfig) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.RoutingURLs, "routing-urls", "", "comma-separated delegated routing v1 endpoints asked for IPNS records (GET <url>/routing/v1/ipns/<name>)")
	fs.DurationVar(&c.RoutingTimeout, "routing-timeout", DefaultNameRoutingTimeout, "longest wait for one remote IPNS record lookup")
	fs.StringVar(&c.DNSLink, "dnslink", "", "static DNSLink map NAME=/ipfs/CID,NAME2=/ipns/KEY, answered before DNS")
	fs.StringVar(&c.DNSLinkFile, "dnslink-file", "", "file of static DNSLink entries, one NAME=/ipfs/CID a line (# comments); --dnslink wins over it")
	fs.BoolVar(&c.DNSLinkDNS, "dnslink-dns", true, "look up _dnslink TXT records in DNS for names not in --dnslink")
	fs.DurationVar(&c.MaxCacheTTL, "name-cache-max-ttl", 0, "longest reuse of a name resolution (0: the record's or DNS answer's TTL)")
}

// RoutingURLList returns RoutingURLs split.
func (c *NamesConfig) RoutingURLList() []string { return splitComma(c.RoutingURLs) }

// splitComma splits a comma-separated list, dropping blanks.
func splitComma(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Validate explains what is wrong, if anything.
func (c *NamesConfig) Validate() error {
	var errs []error
	for _, u := range c.RoutingURLList() {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("--routing-urls: %q is not an http(s) URL", u))
		}
	}
	if c.RoutingTimeout < 0 || c.MaxCacheTTL < 0 {
		errs = append(errs, errors.New("--routing-timeout and --name-cache-max-ttl must not be negative"))
	}
	for _, pair := range strings.Split(c.DNSLink, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		name, value, ok := strings.Cut(pair, "=")
		if !ok || strings.TrimSpace(name) == "" || !(strings.HasPrefix(strings.TrimSpace(value), "/ipfs/") || strings.HasPrefix(strings.TrimSpace(value), "/ipns/")) {
			errs = append(errs, fmt.Errorf("--dnslink %q: want NAME=/ipfs/CID or NAME=/ipns/NAME", pair))
		}
	}
	return errors.Join(errs...)
}
