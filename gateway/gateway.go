package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	boxogw "github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/namesys"
	"github.com/libp2p/go-libp2p/core/routing"
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
	// NameSystem resolves /ipns/ names and DNSLink hosts; nil turns
	// /ipns/ (501) and DNSLink hosts (404) off.
	NameSystem namesys.NameSystem
	// Records answers ?format=ipns-record (with NameSystem).
	Records routing.ValueStore
	// Denylist, when set, refuses content with 410 Gone.
	Denylist Denylist
	// Allowed, when set, is the space check of --require-serve-delegation:
	// a kept answer is served again only while the space it was served
	// for is allowed (the blockstore does the same check for every block).
	Allowed func(ctx context.Context, space string) bool
}

// Defaults for Config.
const (
	DefaultRetrievalTimeout   = 30 * time.Second
	DefaultMaxRequestDuration = time.Hour
)

// DefaultSubdomainHosts serve subdomain origins out of the box.
var DefaultSubdomainHosts = []string{"localhost"}

// Gateway is the handler for /ipfs/ (path and trustless gateway) and for
// subdomain origins of the configured hosts. Lookup lets a front end
// find the answers its response cache keeps without entering the handler.
type Gateway struct {
	http.Handler
	responses *responseCache
}

// New returns the gateway over a blockstore of verified blocks (the
// resolver).
func New(cfg Config, bs blockstore.Blockstore, reg prometheus.Registerer, log *slog.Logger) (*Gateway, error) {
	if cfg.RetrievalTimeout <= 0 {
		cfg.RetrievalTimeout = DefaultRetrievalTimeout
	}
	if cfg.MaxRequestDuration <= 0 {
		cfg.MaxRequestDuration = DefaultMaxRequestDuration
	}
	verified := blockstore.NewIdStore(mappedBlockstore{bs})
	svc := blockservice.New(verified, nil)
	var opts []boxogw.BackendOption
	names := cfg.NameSystem != nil
	if names {
		opts = append(opts, boxogw.WithNameSystem(statusNames{cfg.NameSystem}), boxogw.WithValueStore(statusRecords{cfg.Records}))
	}
	blocks, err := boxogw.NewBlocksBackend(svc, opts...)
	if err != nil {
		return nil, fmt.Errorf("gateway backend: %w", err)
	}
	backend, err := newCachedBackend(blocks, verified, DefaultPathCacheBytes, reg)
	if err != nil {
		return nil, err
	}
	paths := []string{"/ipfs"}
	if names {
		paths = append(paths, "/ipns")
	}
	public := map[string]*boxogw.PublicGateway{}
	for _, h := range cfg.SubdomainHosts {
		public[h] = &boxogw.PublicGateway{Paths: paths, UseSubdomains: true, NoDNSLink: !names, InlineDNSLink: names, DeserializedResponses: true}
	}
	conf := boxogw.Config{
		DeserializedResponses: true,
		DeprecatedXIpfsPath:   true,
		// Conversions between codecs only where the spec allows them
		// (IPIP-524): a ?format= of another codec answers 406.
		AllowCodecConversion: false,
		NoDNSLink:            !names,
		PublicGateways:       public,
		RetrievalTimeout:     cfg.RetrievalTimeout,
		MaxRequestDuration:   cfg.MaxRequestDuration,
		MetricsRegistry:      reg,
	}
	var served boxogw.IPFSBackend = backend
	if cfg.Denylist != nil {
		served = denyBackend{IPFSBackend: backend, list: cfg.Denylist}
	}
	handler := boxogw.NewHandler(conf, served)
	mux := http.NewServeMux()
	mux.Handle("/ipfs/", withCIDCheck(handler))
	if names {
		mux.Handle("/ipns/", handler)
	} else {
		mux.HandleFunc("/ipns/", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "IPNS and DNSLink are not served by this gateway: use /ipfs/<cid>", http.StatusNotImplemented)
		})
	}
	responses, err := newResponseCache(DefaultResponseCacheBytes, DefaultResponseCacheMaxBody, reg)
	if err != nil {
		return nil, err
	}
	responses.allowed = cfg.Allowed
	h := responses.wrap(withStreamAbort(withRangesPerRFC(boxogw.NewHostnameHandler(conf, served, mux)), log))
	if cfg.Denylist != nil {
		// Outside the response cache: a kept answer is refused too.
		h = withDenylist(cfg.Denylist, h)
	}
	return &Gateway{Handler: WithCORS(h), responses: responses}, nil
}

// WithCORS sets the CORS headers the gateway spec asks for on every
// response (any origin may read content: it is public and
// content-addressed); OPTIONS preflights are answered by boxo's handler.
func WithCORS(next http.Handler) http.Handler {
	return boxogw.NewHeaders(nil).WithDeprecatedXIpfsPath().ApplyCors().Wrap(next)
}

// WithTunnel answers HTTP CONNECT as the end of the tunnel: a client that
// uses the gateway as its HTTP proxy (as browsers and curl do for
// subdomain gateways on hosts with no DNS) opens a tunnel with CONNECT,
// then sends ordinary requests with a subdomain Host through it. Nothing
// is ever forwarded anywhere: after the 200 the same connection is read
// by this server as plain HTTP, so only this gateway is reachable.
func WithTunnel(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect {
			w.WriteHeader(http.StatusOK)
			return
		}
		next.ServeHTTP(w, r)
	})
}
