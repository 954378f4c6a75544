package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/storacha/go-ucanto/ucan"

	"github.com/cargate/cargate/cache"
	"github.com/cargate/cargate/gateway"
	"github.com/cargate/cargate/indexer"
	"github.com/cargate/cargate/internal/blobstore"
	"github.com/cargate/cargate/internal/claimstore"
	"github.com/cargate/cargate/internal/config"
	"github.com/cargate/cargate/resolver"
)

// remoteSources builds the claim sources beyond our own store (remote
// IPNI nodes, legacy content-claims), in the order they are asked, each
// behind the Redis tier when Redis is configured.
func remoteSources(ctx context.Context, cfg *config.Config, n *node) ([]indexer.ClaimFinder, error) {
	ic := cfg.Indexer
	var named []struct {
		name string
		f    indexer.ClaimFinder
	}
	if tiers := ic.IPNITiers(); len(tiers) > 0 {
		src, err := indexer.NewIPNISource(indexer.IPNIConfig{Tiers: tiers, TierTimeout: ic.IPNITierTimeout})
		if err != nil {
			return nil, err
		}
		named = append(named, struct {
			name string
			f    indexer.ClaimFinder
		}{"ipni", src})
	}
	if ic.LegacyTable != "" {
		src, err := legacySource(ctx, ic)
		if err != nil {
			return nil, err
		}
		named = append(named, struct {
			name string
			f    indexer.ClaimFinder
		}{"legacy", src})
	}
	rdb := redisClient(ic)
	if rdb != nil {
		n.onStop(rdb.Close)
	}
	var out []indexer.ClaimFinder
	for _, s := range named {
		if rdb == nil {
			out = append(out, s.f)
			continue
		}
		out = append(out, cache.NewRedis(s.f, rdb, cache.RedisConfig{
			Prefix: "cargate:claims:" + s.name + ":", TTL: ic.RedisTTL, NegativeTTL: ic.RedisNegativeTTL, Timeout: ic.RedisTimeout,
		}, n.reg, n.log))
	}
	return out, nil
}

func legacySource(ctx context.Context, ic config.IndexerConfig) (*indexer.LegacySource, error) {
	db, err := claimstore.NewDynamoClient(ctx, ic.DynamoDBEndpoint)
	if err != nil {
		return nil, err
	}
	bucket, err := blobstore.NewS3(ctx, blobstore.S3Config{Bucket: ic.LegacyBucket, Endpoint: ic.S3Endpoint})
	if err != nil {
		return nil, fmt.Errorf("legacy claims bucket: %w", err)
	}
	return indexer.NewLegacySource(db, ic.LegacyTable, bucket)
}

// redisClient returns a client of the configured Redis (cluster or not),
// nil when none is configured. Short timeouts: a dead Redis must cost
// little, the tier falls through to the sources.
func redisClient(ic config.IndexerConfig) redis.UniversalClient {
	addrs := ic.RedisAddrs()
	if len(addrs) == 0 {
		return nil
	}
	opts := &redis.UniversalOptions{
		Addrs: addrs, IsClusterMode: ic.RedisCluster,
		DialTimeout: 500 * time.Millisecond, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: 1,
	}
	return redis.NewUniversalClient(opts)
}

// openClaimStore opens the DynamoDB claim store when both tables are
// configured, else the embedded one in the data dir.
func openClaimStore(ctx context.Context, cfg *config.Config) (claimstore.Store, error) {
	ic := cfg.Indexer
	if ic.ClaimsTable == "" {
		return claimstore.OpenPebble(filepath.Join(cfg.DataDir, "claims"))
	}
	db, err := claimstore.NewDynamoClient(ctx, ic.DynamoDBEndpoint)
	if err != nil {
		return nil, err
	}
	return claimstore.NewDynamo(db, ic.ClaimsTable, ic.ClaimKeysTable)
}

// indexerAPI builds the HTTP API of n's indexer, with readiness checks of
// the claim store and (optional) Redis.
func indexerAPI(ctx context.Context, n *node) (*indexer.API, error) {
	checks := []indexer.ReadyCheck{{Name: "claim store", Check: func(ctx context.Context) error {
		if w, ok := n.claims.(interface{ Writable() error }); ok {
			if err := w.Writable(); err != nil {
				return err // a full disk: no claim can be taken
			}
		}
		_, err := n.claims.Find(ctx, []byte{0x00, 0x00})
		return err
	}}}
	if rdb := redisClient(n.cfg.Indexer); rdb != nil {
		n.onStop(rdb.Close)
		checks = append(checks, indexer.ReadyCheck{Name: "redis", Optional: true, Check: func(ctx context.Context) error {
			return rdb.Ping(ctx).Err()
		}})
	}
	revoked := n.revoked
	checks = append(checks, indexer.ReadyCheck{Name: "revocations", Optional: true, Check: func(context.Context) error { return revoked.Err() }})
	deny, err := n.denylist(ctx)
	if err != nil {
		return nil, err
	}
	ic := n.cfg.Indexer
	return indexer.NewAPI(n.indexer, indexer.APIConfig{PublicURL: ic.PublicURL, Checks: checks, Names: n.names, Intake: indexer.IntakeConfig{
		MaxBodyBytes: ic.IntakeMaxBody, BodyTimeout: ic.IntakeBodyTimeout, MaxConcurrent: ic.IntakeConcurrency,
		Revoked: func(_ context.Context, dlg ucan.Link) bool {
			c, err := cid.Parse(dlg.String())
			return err != nil || revoked.Revoked(c) // a link that is no CID proves nothing
		},
		Denied: deny.DeniedContent,
		Grant:  n.keepGrants(),
	}}, n.reg, n.log)
}

// mountIndexer adds the indexer's HTTP API to mux and returns its
// readiness handler (claim store, Redis), which serve answers /readyz with.
func mountIndexer(ctx context.Context, mux *http.ServeMux, n *node) (http.HandlerFunc, error) {
	api, err := indexerAPI(ctx, n)
	if err != nil {
		return nil, err
	}
	api.Routes(mux)
	return api.Readyz, nil
}

// ServeIndexer runs the indexer role alone until ctx ends, then drains
// in-flight requests for up to cfg.ShutdownGrace.
func ServeIndexer(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	log.Info("starting cargate indexer", cfg.Masked()...)
	n, err := build(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer n.stop()
	api, err := indexerAPI(ctx, n)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	api.Routes(mux)
	api.OpsRoutes(mux)
	servers, err := listen(cfg, n.reg, mux, opsHandler(n, api.Readyz), nil, log)
	if err != nil {
		return err
	}
	log.Info("cargate indexer serving", "url", servers[0].url, "did", n.id.DID().String())
	return runUntilDone(ctx, cfg, servers, log)
}

// ServeGateway runs the gateway role alone, locating content through the
// indexer at cfg.Indexer.URL. It holds no claim store and no key.
func ServeGateway(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	if cfg.Indexer.URL == "" {
		return errors.New("cargate gateway: set --indexer-url (or CARGATE_INDEXER_URL) to the indexer to ask")
	}
	log.Info("starting cargate gateway", append(cfg.Masked(), "indexer_url", cfg.Indexer.URL)...)
	n, err := buildGateway(cfg, log)
	if err != nil {
		return err
	}
	defer n.stop()
	return serveGateway(ctx, cfg, n, http.NewServeMux(), indexerReachable(cfg.Indexer.URL))
}

// gatewayNode is what a gateway-only process builds: a resolver over an
// HTTP client of the indexer; shards are read at the URLs location
// claims name (plain HTTP(S), or the local blob directory for file://).
// buildGateway builds a gateway-only node: no claim store and no key;
// blocks are located by the indexer at cfg.Indexer.URL.
func buildGateway(cfg *config.Config, log *slog.Logger) (*node, error) {
	n := &node{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	client, err := indexer.NewClient(cfg.Indexer.URL, indexer.ClientConfig{Timeout: cfg.Indexer.ClientTimeout})
	if err != nil {
		return nil, err
	}
	var stores []blobstore.Store
	if fi, err := os.Stat(cfg.BlobDir()); err == nil && fi.IsDir() {
		dir, err := blobstore.NewDir(cfg.BlobDir())
		if err != nil {
			return nil, err
		}
		stores = append(stores, dir)
	}
	reader, err := urlReader(cfg, n.reg, stores...)
	if err != nil {
		return nil, err
	}
	n.resolver, err = resolver.New(locator{q: client}, reader, resolver.Config{}, n.reg, log)
	if err != nil {
		return nil, err
	}
	n.onStop(func() error { n.resolver.Close(); return nil })
	return n, nil
}

// listening is one started server and its URL.
type listening struct {
	srv interface {
		Shutdown(context.Context) error
		Close() error
	}
	url string
}

// listen starts the main handler on cfg.Listen and ops on
// cfg.MetricsListen (when set), both under cfg.Server's limits. With gw
// set and cfg.HTTPFront fasthttp, the main listener is the fasthttp
// front answering gw's kept answers.
func listen(cfg *config.Config, reg prometheus.Registerer, main, ops http.Handler, gw *gateway.Gateway, log *slog.Logger) ([]listening, error) {
	lim := newLimits(cfg.Server, reg)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	var srv interface {
		Shutdown(context.Context) error
		Close() error
	}
	if gw != nil && cfg.HTTPFront != "net" {
		srv = serveFront(lim.listener(ln), main, gw, lim, reg, log)
	} else {
		srv = serveOn(ln, main, lim, log)
	}
	out := []listening{{srv, "http://" + ln.Addr().String() + "/"}}
	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			out[0].srv.Close()
			return nil, fmt.Errorf("listen %s: %w", cfg.MetricsListen, err)
		}
		out = append(out, listening{serveOn(mln, ops, lim, log), "http://" + mln.Addr().String() + "/metrics"})
		log.Info("metrics serving", "url", out[1].url)
	}
	return out, nil
}

// runUntilDone waits for ctx, then shuts the servers down gracefully.
func runUntilDone(ctx context.Context, cfg *config.Config, servers []listening, log *slog.Logger) error {
	<-ctx.Done()
	log.Info("shutting down", "grace", cfg.ShutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	var errs []error
	for _, s := range servers {
		errs = append(errs, s.srv.Shutdown(sctx))
	}
	return errors.Join(errs...)
}

// indexerReachable is a gateway's readiness: its indexer answers /healthz.
func indexerReachable(base string) http.HandlerFunc {
	client := &http.Client{Timeout: 2 * time.Second}
	return func(w http.ResponseWriter, r *http.Request) {
		resp, err := client.Get(strings.TrimSuffix(base, "/") + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		if err != nil || resp.StatusCode != http.StatusOK {
			http.Error(w, "unavailable: the indexer at "+base+" does not answer", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	}
}
