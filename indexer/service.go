package indexer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/principal"

	"github.com/cargate/cargate/cache"
	"github.com/cargate/cargate/internal/blobstore"
	"github.com/cargate/cargate/internal/claimstore"
)

// ClaimFinder is a source of claims about a multihash: our own store, a
// remote IPNI node, the legacy content-claims tables, or a cache over them.
type ClaimFinder interface {
	FindClaims(ctx context.Context, digest multihash.Multihash) ([]delegation.Delegation, error)
}

// Config tunes the service.
type Config struct {
	// ClaimCacheBytes bounds the in-process cache of decoded claims.
	ClaimCacheBytes int64
	// IndexCacheBytes bounds the in-process cache of decoded indexes.
	IndexCacheBytes int64
	// NegativeTTL is how long "not found" is remembered.
	NegativeTTL time.Duration
	// RemoteTimeout bounds each lookup in remote sources.
	RemoteTimeout time.Duration
	// MaxIndexBytes bounds an index blob read at intake, and the index
	// blobs of one intake message together.
	MaxIndexBytes int64
	// FetchTimeout bounds the reading of the index blobs of one intake
	// message, all tries included.
	FetchTimeout time.Duration
}

// Defaults for Config.
const (
	DefaultClaimCacheBytes = 64 << 20
	DefaultIndexCacheBytes = 256 << 20
	DefaultNegativeTTL     = 10 * time.Second
	DefaultRemoteTimeout   = 2 * time.Second
	DefaultMaxIndexBytes   = 8 << 20
	DefaultFetchTimeout    = 20 * time.Second
)

// Service is the indexing service: it answers which claims and indexes
// locate a multihash, and takes in new claims.
type Service struct {
	id      principal.Signer
	store   claimstore.Store
	remote  []ClaimFinder
	blobs   blobstore.URLReader
	cfg     Config
	claims  *cache.Local[[]*Claim]
	indexes *cache.Local[Index]
	gen     atomic.Uint64 // bumped by every stored claim
	log     *slog.Logger
}

// New returns a Service signing as id, keeping claims in store, asking
// remote sources (in order) for what store does not hold, and reading index
// blobs through blobs.
func New(id principal.Signer, store claimstore.Store, remote []ClaimFinder, blobs blobstore.URLReader, cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Service, error) {
	if cfg.ClaimCacheBytes <= 0 {
		cfg.ClaimCacheBytes = DefaultClaimCacheBytes
	}
	if cfg.IndexCacheBytes <= 0 {
		cfg.IndexCacheBytes = DefaultIndexCacheBytes
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = DefaultNegativeTTL
	}
	if cfg.RemoteTimeout <= 0 {
		cfg.RemoteTimeout = DefaultRemoteTimeout
	}
	if cfg.MaxIndexBytes <= 0 {
		cfg.MaxIndexBytes = DefaultMaxIndexBytes
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	claims, err := cache.NewLocal[[]*Claim]("indexer_claims", cfg.ClaimCacheBytes, reg)
	if err != nil {
		return nil, err
	}
	indexes, err := cache.NewLocal[Index]("indexer_indexes", cfg.IndexCacheBytes, reg)
	if err != nil {
		return nil, err
	}
	return &Service{id: id, store: store, remote: remote, blobs: blobs, cfg: cfg, claims: claims, indexes: indexes, log: log}, nil
}

// Generation changes whenever a claim is stored in this process: answers
// computed under one generation may be reused while it lasts.
func (s *Service) Generation() uint64 { return s.gen.Load() }

// ID is the service's signer.
func (s *Service) ID() principal.Signer { return s.id }

// Close releases caches (not the store, which the caller owns).
func (s *Service) Close() {
	s.claims.Close()
	s.indexes.Close()
}

// findClaims returns the decoded claims about digest from the cache, our
// store, then the remote sources. Not-found is cached for NegativeTTL; a
// source error is never cached as not-found.
func (s *Service) findClaims(ctx context.Context, digest multihash.Multihash) ([]*Claim, error) {
	return s.claims.GetOrLoad(ctx, string(digest), func(ctx context.Context) ([]*Claim, int64, time.Duration, error) {
		found, err := s.lookup(ctx, digest)
		if err != nil {
			return nil, 0, 0, err
		}
		if len(found) == 0 {
			return nil, 64, s.cfg.NegativeTTL, nil
		}
		return found, int64(2048 * len(found)), 0, nil
	})
}

func (s *Service) lookup(ctx context.Context, digest multihash.Multihash) ([]*Claim, error) {
	own, err := s.ownClaims(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("claim store: %w", err)
	}
	if len(own) > 0 || len(s.remote) == 0 {
		return own, nil
	}
	var found []*Claim
	var errs []error
	for _, src := range s.remote {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.RemoteTimeout)
		ds, err := src.FindClaims(rctx, digest)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, d := range ds {
			c, err := Decode(d)
			if err != nil {
				s.log.Warn("remote source returned an invalid claim", "claim", d.Link(), "err", err)
				continue
			}
			c.Remote = true
			s.judgeSpace(c)
			found = append(found, c)
		}
	}
	if len(found) == 0 && len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, errors.Join(errs...))
	}
	return found, nil
}

func (s *Service) ownClaims(ctx context.Context, digest multihash.Multihash) ([]*Claim, error) {
	ids, err := s.store.Find(ctx, digest)
	if err != nil {
		return nil, err
	}
	out := make([]*Claim, 0, len(ids))
	for _, id := range ids {
		b, err := s.store.Claim(ctx, id)
		if err != nil {
			return nil, err
		}
		d, err := delegation.Extract(b)
		if err != nil {
			return nil, fmt.Errorf("stored claim %s: %w", id, err)
		}
		c, err := Decode(d)
		if err != nil {
			return nil, fmt.Errorf("stored claim %s: %w", id, err)
		}
		s.judgeSpace(c)
		out = append(out, c)
	}
	return out, nil
}

// Claims returns the decoded claims found under digest (cache, own store,
// remote sources), as the IPNI find API and claim caches need them.
func (s *Service) Claims(ctx context.Context, digest multihash.Multihash) ([]*Claim, error) {
	return s.findClaims(ctx, digest)
}

// StoredClaim returns the archive (CAR bytes) of a claim held in our own
// store; claimstore.ErrNotFound when it is not held.
func (s *Service) StoredClaim(ctx context.Context, id cid.Cid) ([]byte, error) {
	return s.store.Claim(ctx, id)
}
