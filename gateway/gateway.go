package gateway

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	boxogw "github.com/ipfs/boxo/gateway"
	"github.com/prometheus/client_golang/prometheus"
)

// Config is the gateway's HTTP behaviour.
type Config struct {
	// SubdomainHosts are the hosts that serve <cid>.ipfs.<host> origins.
	SubdomainHosts []string
	// RetrievalTimeout bounds the wait for the next block of a response
	// (a response that stalls this long ends with 504, or is aborted).
	RetrievalTimeout time.Duration
	// MaxRequestDuration bounds a whole response.
	MaxRequestDuration time.Duration
}

// Defaults for Config.
const (
	DefaultRetrievalTimeout   = 30 * time.Second
	DefaultMaxRequestDuration = time.Hour
)

// DefaultSubdomainHosts serve subdomain origins out of the box.
var DefaultSubdomainHosts = []string{"localhost"}

// New returns the handler for /ipfs/ (path and trustless gateway) and for
// subdomain origins of the configured hosts, over a blockstore of verified
// blocks (the resolver).
func New(cfg Config, bs blockstore.Blockstore, reg prometheus.Registerer, log *slog.Logger) (http.Handler, error) {
	if cfg.RetrievalTimeout <= 0 {
		cfg.RetrievalTimeout = DefaultRetrievalTimeout
	}
	if cfg.MaxRequestDuration <= 0 {
		cfg.MaxRequestDuration = DefaultMaxRequestDuration
	}
	verified := blockstore.NewIdStore(mappedBlockstore{bs})
	svc := blockservice.New(verified, nil)
	blocks, err := boxogw.NewBlocksBackend(svc)
	if err != nil {
		return nil, fmt.Errorf("gateway backend: %w", err)
	}
	backend, err := newCachedBackend(blocks, verified, DefaultPathCacheBytes, reg)
	if err != nil {
		return nil, err
	}
	public := map[string]*boxogw.PublicGateway{}
	for _, h := range cfg.SubdomainHosts {
		public[h] = &boxogw.PublicGateway{Paths: []string{"/ipfs"}, UseSubdomains: true, NoDNSLink: true, DeserializedResponses: true}
	}
	conf := boxogw.Config{
		DeserializedResponses: true,
		DeprecatedXIpfsPath:   true,
		AllowCodecConversion:  true,
		NoDNSLink:             true,
		PublicGateways:        public,
		RetrievalTimeout:      cfg.RetrievalTimeout,
		MaxRequestDuration:    cfg.MaxRequestDuration,
		MetricsRegistry:       reg,
	}
	ipfs := boxogw.NewHandler(conf, backend)
	mux := http.NewServeMux()
	mux.Handle("/ipfs/", ipfs)
	mux.HandleFunc("/ipns/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "IPNS and DNSLink are not served by this gateway: use /ipfs/<cid>", http.StatusNotImplemented)
	})
	responses, err := newResponseCache(DefaultResponseCacheBytes, DefaultResponseCacheMaxBody, reg)
	if err != nil {
		return nil, err
	}
	return responses.wrap(withStreamAbort(withMultiRange(boxogw.NewHostnameHandler(conf, backend, mux)), log)), nil
}
