package app

import (
	"fmt"
	"io"
	"os"
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
	entries := cfg.Names.DNSLink
	if f := cfg.Names.DNSLinkFile; f != "" {
		text, err := readSmallFile(f, maxDNSLinkFile)
		if err != nil {
			return nil, fmt.Errorf("--dnslink-file: %w", err)
		}
		entries = text + "\n" + entries // the flag's entries come last and win
	}
	static, err := names.ParseDNSLinkMap(entries)
	if err != nil {
		return nil, fmt.Errorf("--dnslink / --dnslink-file: %w", err)
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

// maxDNSLinkFile bounds --dnslink-file: the map is held in memory.
const maxDNSLinkFile = 16 << 20

func readSmallFile(path string, limit int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return "", err
	}
	if int64(len(b)) > limit {
		return "", fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return string(b), nil
}
