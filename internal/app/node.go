package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/storacha/go-ucanto/principal"

	"github.com/cargate/cargate/denylist"
	"github.com/cargate/cargate/indexer"
	"github.com/cargate/cargate/internal/access"
	"github.com/cargate/cargate/internal/blobstore"
	"github.com/cargate/cargate/internal/claimstore"
	"github.com/cargate/cargate/internal/config"
	"github.com/cargate/cargate/internal/identity"
	"github.com/cargate/cargate/internal/revocation"
	"github.com/cargate/cargate/names"
	"github.com/cargate/cargate/resolver"
)

// node is every component of one process, built in dependency order; stop
// releases them in reverse.
type node struct {
	cfg      *config.Config
	log      *slog.Logger
	reg      *prometheus.Registry
	id       principal.Signer
	blobs    blobstore.Store
	claims   claimstore.Store
	indexer  *indexer.Service
	resolver *resolver.Resolver
	names    *names.Store   // IPNS records; nil in a gateway-only process
	deny     *denylist.List // --denylist, opened on first use; nil without one
	revoked  *revocation.List
	grants   *access.Grants // spaces that may be served; nil unless --require-serve-delegation
	stops    []func() error
}

func (n *node) onStop(f func() error) { n.stops = append(n.stops, f) }

// stop runs the recorded stop functions, last first.
func (n *node) stop() error {
	var errs []error
	for i := len(n.stops) - 1; i >= 0; i-- {
		errs = append(errs, n.stops[i]())
	}
	n.stops = nil
	return errors.Join(errs...)
}

// build opens the data dir, key, stores, indexer and resolver.
func build(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *node, err error) {
	n := &node{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			n.stop()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if n.id, err = loadKey(cfg); err != nil {
		return nil, err
	}
	if n.names, err = openNameStore(cfg); err != nil {
		return nil, err
	}
	if n.blobs, err = openBlobs(ctx, cfg, n.reg); err != nil {
		return nil, err
	}
	store, err := openClaimStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	n.claims = store
	n.onStop(store.Close)

	reader, err := urlReader(cfg, n.reg, n.blobs)
	if err != nil {
		return nil, err
	}
	remote, err := remoteSources(ctx, cfg, n)
	if err != nil {
		return nil, err
	}
	n.indexer, err = indexer.New(n.id, n.claims, remote, reader, indexer.Config{
		NegativeTTL:   cfg.Indexer.NegativeTTL,
		RemoteTimeout: cfg.Indexer.RemoteTimeout,
		MaxIndexBytes: cfg.Indexer.MaxIndexSize,
	}, n.reg, log)
	if err != nil {
		return nil, err
	}
	n.onStop(func() error { n.indexer.Close(); return nil })
	if n.revoked, err = revocation.Open(filepath.Join(cfg.DataDir, revocation.FileName)); err != nil {
		return nil, err
	}
	var rcfg resolver.Config
	if cfg.RequireServeDelegation {
		if n.grants, err = access.Open(filepath.Join(cfg.DataDir, access.FileName), n.revoked); err != nil {
			return nil, err
		}
		rcfg.Allowed = n.grants.Allowed
	}
	n.resolver, err = resolver.New(locator{q: n.indexer, own: n.id.DID()}, reader, rcfg, n.reg, log)
	if err != nil {
		return nil, err
	}
	n.onStop(func() error { n.resolver.Close(); return nil })
	return n, nil
}

// urlReader reads the URLs claims name: through stores for their own
// URLs, else over HTTP(S), only to addresses the fetch policy allows.
func urlReader(cfg *config.Config, reg prometheus.Registerer, stores ...blobstore.Store) (*blobstore.Router, error) {
	policy, err := blobstore.ParseFetchPolicy(cfg.Indexer.FetchAllow)
	if err != nil {
		return nil, fmt.Errorf("--fetch-allow: %w", err)
	}
	return blobstore.NewRouter(blobstore.NewHTTP(blobstore.HTTPConfig{Policy: policy}, reg), stores...), nil
}

func loadKey(cfg *config.Config) (principal.Signer, error) {
	if cfg.Key != "" {
		return identity.Parse(cfg.Key, cfg.DIDWeb)
	}
	path := cfg.KeyFile
	if path == "" {
		path = filepath.Join(cfg.DataDir, "key")
	}
	return identity.Load(path, cfg.DIDWeb)
}

// openBlobs opens the configured blob store (default: a directory in the
// data dir), instrumented with per-backend metrics.
func openBlobs(ctx context.Context, cfg *config.Config, reg prometheus.Registerer) (blobstore.Store, error) {
	spec := cfg.BlobStore
	if spec == "" {
		spec = cfg.BlobDir()
	}
	s, err := blobstore.Open(ctx, spec)
	if err != nil {
		return nil, err
	}
	backend := "dir"
	if _, ok := s.(*blobstore.S3); ok {
		backend = "s3"
	}
	return blobstore.Instrument(s, backend, reg), nil
}

func (n *node) resolverBlockstore() resolver.Blockstore { return resolver.Blockstore{R: n.resolver} }

// keepGrants is the intake's keeper of serve delegations, nil (they are
// refused) unless --require-serve-delegation is on.
func (n *node) keepGrants() func(context.Context, []indexer.ServeGrant) error {
	if n.grants == nil {
		return nil
	}
	return func(_ context.Context, gs []indexer.ServeGrant) error {
		out := make([]access.Grant, len(gs))
		for i, g := range gs {
			out[i] = access.Grant{Space: g.Space, Delegation: g.Delegation.String(), Expires: g.Expires, NotBefore: g.NotBefore, Token: g.Token}
		}
		return n.grants.Add(out...)
	}
}

// allowed is the space check of --require-serve-delegation; nil when off.
func (n *node) allowed() func(ctx context.Context, space string) bool {
	if n.grants == nil {
		return nil
	}
	return n.grants.Allowed
}
