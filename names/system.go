package names

import (
	"fmt"
	"net/http"
	"time"

	"github.com/ipfs/boxo/namesys"
	"github.com/ipfs/boxo/routing/http/client"
	"github.com/ipfs/boxo/routing/http/contentrouter"
	"github.com/libp2p/go-libp2p/core/routing"
	madns "github.com/multiformats/go-multiaddr-dns"
)

// Defaults for Config.
const (
	// DefaultRoutingTimeout bounds one remote record lookup.
	DefaultRoutingTimeout = 10 * time.Second
	// DefaultCacheEntries bounds the resolution cache.
	DefaultCacheEntries = 4096
)

// Config says where names are looked up.
type Config struct {
	// Store is the local record store; nil: none.
	Store *Store
	// RoutingURLs are delegated routing v1 endpoints asked for records
	// (GET <url>/routing/v1/ipns/<name>).
	RoutingURLs []string
	// RoutingTimeout bounds one remote lookup (DefaultRoutingTimeout).
	RoutingTimeout time.Duration
	// DNSLink maps domains to paths, answered before (and instead of) DNS.
	DNSLink map[string]string
	// DNS allows _dnslink TXT lookups through the system's resolver for
	// names not in DNSLink.
	DNS bool
	// MaxCacheTTL caps how long a resolution is reused; 0: the record's
	// own TTL (or the DNS answer's) alone decides.
	MaxCacheTTL time.Duration
}

// System is the name system the gateway resolves /ipns/ paths with, and
// the record source it answers ?format=ipns-record from.
type System struct {
	NameSystem namesys.NameSystem
	Records    *Records
}

// New builds the name system of cfg.
func New(cfg Config) (*System, error) {
	if cfg.RoutingTimeout <= 0 {
		cfg.RoutingTimeout = DefaultRoutingTimeout
	}
	recs := &Records{local: cfg.Store, timeout: cfg.RoutingTimeout, remoteMisses: misses{ttl: DefaultRemoteMissTTL}}
	for _, u := range cfg.RoutingURLs {
		c, err := client.New(u, client.WithHTTPClient(&http.Client{Timeout: cfg.RoutingTimeout}))
		if err != nil {
			return nil, fmt.Errorf("routing URL %q: %w", u, err)
		}
		recs.remotes = append(recs.remotes, contentrouter.NewContentRoutingClient(c))
	}
	dns := &dnsLinks{static: cfg.DNSLink, misses: misses{ttl: DefaultDNSMissTTL}}
	if cfg.DNS {
		dns.next = madns.DefaultResolver
	}
	opts := []namesys.Option{namesys.WithDNSResolver(dns), namesys.WithCache(DefaultCacheEntries)}
	if cfg.MaxCacheTTL > 0 {
		opts = append(opts, namesys.WithMaxCacheTTL(cfg.MaxCacheTTL))
	}
	ns, err := namesys.NewNameSystem(routing.ValueStore(recs), opts...)
	if err != nil {
		return nil, err
	}
	return &System{NameSystem: ns, Records: recs}, nil
}
