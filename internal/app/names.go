package app

import (
	"fmt"
	"path/filepath"

	"github.com/cargate/cargate/internal/config"
	"github.com/cargate/cargate/names"
)

// openNameStore opens the data dir's IPNS record store.
func openNameStore(cfg *config.Config) (*names.Store, error) {
	return names.OpenStore(filepath.Join(cfg.DataDir, "ipns"))
}

// nameSystem builds the gateway's name system: the local record store
// (nil for a gateway-only process, which holds no state), the routing URLs
// and, for a gateway with --indexer-url, that indexer's routing v1 API,
// where records are PUT.
func nameSystem(cfg *config.Config, store *names.Store) (*names.System, error) {
	static, err := names.ParseDNSLinkMap(cfg.Names.DNSLink)
	if err != nil {
		return nil, fmt.Errorf("--dnslink: %w", err)
	}
	urls := cfg.Names.RoutingURLList()
	if cfg.Indexer.URL != "" {
		urls = append(urls, cfg.Indexer.URL)
	}
	return names.New(names.Config{
		Store:          store,
		RoutingURLs:    urls,
		RoutingTimeout: cfg.Names.RoutingTimeout,
		DNSLink:        static,
		DNS:            cfg.Names.DNSLinkDNS,
		MaxCacheTTL:    cfg.Names.MaxCacheTTL,
	})
}
