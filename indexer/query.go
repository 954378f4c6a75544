package indexer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-libstoracha/blobindex"
	"github.com/storacha/go-ucanto/did"

	"github.com/cargate/cargate/internal/blobstore"

	"github.com/cargate/cargate/internal/verify"
)

// QueryType selects which claims a query returns.
type QueryType string

// Query types, as in Storacha's indexing service.
const (
	// QueryStandard returns location, index and equals claims, and indexes.
	QueryStandard QueryType = "standard"
	// QueryLocation returns location claims only.
	QueryLocation QueryType = "location"
	// QueryIndexOrLocation returns index claims (with indexes) or, for
	// blobs without an index, location claims.
	QueryIndexOrLocation QueryType = "index_or_location"
	// QueryStandardCompressed takes exactly one multihash. When an index
	// places it in a shard with a location claim, the answer is a single
	// location claim, signed by the service, for the block itself (the
	// shard's URLs, the block's byte range); otherwise it is the standard
	// answer.
	QueryStandardCompressed QueryType = "standard_compressed"
)

// ParseQueryType reads a query type; "" means standard.
func ParseQueryType(s string) (QueryType, error) {
	switch QueryType(s) {
	case "", QueryStandard:
		return QueryStandard, nil
	case QueryLocation, QueryIndexOrLocation, QueryStandardCompressed:
		return QueryType(s), nil
	}
	return "", fmt.Errorf("%w: unknown query type %q", ErrBadInput, s)
}

// Query asks for the claims and indexes that locate some multihashes.
type Query struct {
	Hashes []multihash.Multihash
	// Spaces, when set, keeps only location claims for these spaces,
	// those of index blobs included: an index whose blob has no location
	// in these spaces is left out (its claim stays).
	Spaces []did.DID
	Type   QueryType
}

// Index is a decoded sharded DAG index with the multihash of its blob.
type Index struct {
	Digest multihash.Multihash
	View   blobindex.ShardedDagIndexView
	// Bytes, when known, is the index blob itself (it hashes to Digest),
	// so answers carry it without archiving View again.
	Bytes []byte

	bad error // set (View nil) for a blob that is not an index
}

// Result holds what a query found.
type Result struct {
	Claims  map[cid.Cid]*Claim
	Indexes map[string]Index // by context id (see ContextID)
}

func (r *Result) addClaim(c *Claim) { r.Claims[c.CID()] = c }

// Empty reports whether nothing was found.
func (r *Result) Empty() bool { return len(r.Claims) == 0 && len(r.Indexes) == 0 }

// Query answers q. Nothing known about the hashes is an empty result, as
// Storacha's indexing service answers; the in-process locator reads it as
// not found. When something failed (a source, an index) and nothing was
// found, the failures are the error: ErrUnavailable, or ErrNotFound when
// an index blob is gone. A failure beside a non-empty answer is logged and
// the answer stands.
func (s *Service) Query(ctx context.Context, q Query) (*Result, error) {
	if len(q.Hashes) == 0 {
		return nil, fmt.Errorf("%w: no multihash in query", ErrBadInput)
	}
	if q.Type == "" {
		q.Type = QueryStandard
	}
	if q.Type == QueryStandardCompressed && len(q.Hashes) != 1 {
		return nil, fmt.Errorf("%w: a %s query takes exactly one multihash, got %d", ErrBadInput, q.Type, len(q.Hashes))
	}
	res := &Result{Claims: map[cid.Cid]*Claim{}, Indexes: map[string]Index{}}
	var errs []error
	for _, h := range q.Hashes {
		errs = append(errs, s.queryOne(ctx, q, h, res)...)
	}
	if res.Empty() && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(errs) > 0 {
		s.log.Warn("query answered in part", "err", errors.Join(errs...))
	}
	if q.Type == QueryStandardCompressed {
		return s.compress(q.Hashes[0], res)
	}
	return res, nil
}

// queryOne adds what is known about h to res and returns what failed on
// the way: a claim source, or an index (skipped, the others still count).
func (s *Service) queryOne(ctx context.Context, q Query, h multihash.Multihash, res *Result) []error {
	claims, err := s.findClaims(ctx, h)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, c := range claims {
		switch c.Kind {
		case "assert/location":
			if q.Type != QueryIndexOrLocation || !hasIndex(claims) {
				if spaceMatches(q.Spaces, c.Space) {
					res.addClaim(c)
				}
			}
		case "assert/equals":
			if q.Type == QueryStandard {
				res.addClaim(c)
			}
		case "assert/index":
			if q.Type == QueryLocation {
				continue
			}
			if err := s.followIndex(ctx, q, h, c, res); err != nil {
				s.log.Warn("index skipped", "claim", c.CID(), "index", c.Index, "multihash", h.B58String(), "err", err)
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// followIndex adds an index claim, its index, the index blob's locations
// (in the query's spaces) and the locations of the shards that hold h, as
// Storacha's service does. An index whose blob has no location in the
// query's spaces is not read; its claim is still added.
func (s *Service) followIndex(ctx context.Context, q Query, h multihash.Multihash, c *Claim, res *Result) error {
	all, err := s.locations(ctx, c.Index.Hash())
	if err != nil {
		return fmt.Errorf("index %s of claim %s: %w", c.Index, c.CID(), err)
	}
	var idxLocs []*Claim
	for _, l := range all {
		if spaceMatches(q.Spaces, l.Space) {
			idxLocs = append(idxLocs, l)
		}
	}
	if len(idxLocs) == 0 {
		res.addClaim(c)
		return nil
	}
	idx, _, err := s.loadIndex(ctx, c.Index.Hash())
	if err != nil {
		return fmt.Errorf("index %s of claim %s: %w", c.Index, c.CID(), err)
	}
	res.addClaim(c)
	for _, l := range idxLocs {
		res.addClaim(l)
	}
	res.Indexes[ContextID(idxLocs[0].Space, idx.Digest)] = idx
	var errs []error
	for shard, slices := range idx.View.Shards().Iterator() {
		if !slices.Has(h) {
			continue
		}
		locs, err := s.findClaims(ctx, shard)
		if err != nil {
			errs = append(errs, fmt.Errorf("locations of shard %s: %w", shard.B58String(), err))
			continue
		}
		for _, l := range locs {
			if l.Kind == "assert/location" && spaceMatches(q.Spaces, l.Space) {
				res.addClaim(l)
			}
		}
	}
	return errors.Join(errs...)
}

// loadIndex returns the index blob with the given multihash, read from a
// location claim's URL and checked against the multihash; decoded indexes
// are cached. It also returns the index blob's location claims.
func (s *Service) loadIndex(ctx context.Context, digest multihash.Multihash) (Index, []*Claim, error) {
	locs, err := s.locations(ctx, digest)
	if err != nil {
		return Index{}, nil, err
	}
	idx, err := s.indexes.GetOrLoad(ctx, string(digest), func(ctx context.Context) (Index, int64, time.Duration, error) {
		b, err := s.readVerified(ctx, digest, locs)
		if err != nil {
			return Index{}, 0, 0, err
		}
		v, err := blobindex.Extract(bytes.NewReader(b))
		if err != nil {
			// The bytes hash to digest, so they will never decode: remember
			// that, and a bad index costs one read, not one per query.
			return Index{Digest: digest, bad: fmt.Errorf("decode index: %w", err)}, 256, 0, nil
		}
		return Index{Digest: digest, View: v, Bytes: b}, int64(len(b)) * 5, 0, nil
	})
	if err != nil {
		return Index{}, nil, err
	}
	if idx.bad != nil {
		return Index{}, nil, idx.bad
	}
	return idx, locs, nil
}

func (s *Service) locations(ctx context.Context, digest multihash.Multihash) ([]*Claim, error) {
	claims, err := s.findClaims(ctx, digest)
	if err != nil {
		return nil, err
	}
	var locs []*Claim
	for _, c := range claims {
		if c.Kind == "assert/location" {
			locs = append(locs, c)
		}
	}
	if len(locs) == 0 {
		return nil, fmt.Errorf("no location for blob %s: %w", digest.B58String(), ErrNotFound)
	}
	return locs, nil
}

// readVerified reads a whole blob from the first location that serves
// bytes hashing to digest (sha2-256).
func (s *Service) readVerified(ctx context.Context, digest multihash.Multihash, locs []*Claim) ([]byte, error) {
	dec, err := multihash.Decode(digest)
	if err != nil || dec.Code != multihash.SHA2_256 {
		return nil, fmt.Errorf("%w: blob multihash must be sha2-256", ErrBadClaim)
	}
	var errs []error
	for _, l := range locs {
		for _, u := range l.URLs {
			off, length := int64(0), int64(-1)
			if l.Range != nil {
				off = int64(l.Range.Offset)
				if l.Range.Length != nil {
					length = int64(*l.Range.Length)
				}
			}
			rc, err := s.blobs.ReadURL(ctx, u.String(), off, length)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			b, err := io.ReadAll(io.LimitReader(rc, maxIndexBytes+1))
			rc.Close()
			if err == nil && len(b) > maxIndexBytes {
				err = fmt.Errorf("blob larger than %d bytes", maxIndexBytes)
			}
			if err == nil {
				if verify.Block(digest, b) != nil {
					err = fmt.Errorf("blob at %s does not match its multihash", u.String())
				}
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			return b, nil
		}
	}
	if len(errs) > 0 && allNotFound(errs) {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, errors.Join(errs...))
	}
	return nil, fmt.Errorf("%w: %w", ErrUnavailable, errors.Join(errs...))
}

// maxIndexBytes bounds an index blob read into memory.
const maxIndexBytes = 256 << 20

func allNotFound(errs []error) bool {
	for _, e := range errs {
		if !errors.Is(e, blobstore.ErrNotFound) {
			return false
		}
	}
	return true
}

func hasIndex(claims []*Claim) bool {
	for _, c := range claims {
		if c.Kind == "assert/index" {
			return true
		}
	}
	return false
}

func spaceMatches(spaces []did.DID, space did.DID) bool {
	if len(spaces) == 0 {
		return true
	}
	for _, s := range spaces {
		if s == space {
			return true
		}
	}
	return false
}

// ContextID is the key of an index in a query result, as Storacha's
// indexing service computes it: the index multihash, or, when the index
// belongs to a space, sha2-256(space DID bytes || index multihash).
func ContextID(space did.DID, index multihash.Multihash) string {
	if space == did.Undef {
		return string(index)
	}
	sum, _ := multihash.Sum(append(append([]byte(nil), space.Bytes()...), index...), multihash.SHA2_256, -1)
	return string(sum)
}
