package indexer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-ucanto/core/delegation"

	"github.com/cargate/cargate/internal/blobstore"
)

// Attribute names of the legacy content-claims table.
const (
	LegacyAttrContent    = "content"    // partition key: base58btc multihash
	LegacyAttrClaim      = "claim"      // sort key: claim CID
	LegacyAttrExpiration = "expiration" // optional: unix seconds
)

// legacyQuerier is what the legacy source calls of DynamoDB.
type legacyQuerier interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// LegacySource finds claims in the legacy content-claims layout: a
// DynamoDB table keyed by base58btc multihash with the claim CID as sort
// key (and an optional expiration), each claim a CAR at {cid}/{cid}.car in
// a bucket.
type LegacySource struct {
	db     legacyQuerier
	table  string
	bucket blobstore.Store
	now    func() time.Time
}

var _ ClaimFinder = (*LegacySource)(nil)

// NewLegacySource returns a source over table (read with db) and the
// bucket holding the claim CARs.
func NewLegacySource(db *dynamodb.Client, table string, bucket blobstore.Store) (*LegacySource, error) {
	if table == "" || bucket == nil {
		return nil, errors.New("legacy claims: a table and a bucket are required")
	}
	return &LegacySource{db: db, table: table, bucket: bucket, now: time.Now}, nil
}

// FindClaims implements ClaimFinder. Expired entries are skipped; a claim
// CAR that is missing from the bucket is skipped, one that cannot be read
// fails the lookup (ErrUnavailable) unless other claims were found.
func (s *LegacySource) FindClaims(ctx context.Context, digest multihash.Multihash) ([]delegation.Delegation, error) {
	ids, err := s.claimIDs(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("%w: legacy claims table: %w", ErrUnavailable, err)
	}
	var out []delegation.Delegation
	var errs []error
	for _, id := range ids {
		d, err := s.fetch(ctx, id)
		if errors.Is(err, blobstore.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, d)
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, fmt.Errorf("%w: legacy claims bucket: %w", ErrUnavailable, errors.Join(errs...))
	}
	return out, nil
}

// claimIDs returns the unexpired claim CIDs listed under digest.
func (s *LegacySource) claimIDs(ctx context.Context, digest multihash.Multihash) ([]cid.Cid, error) {
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#c = :c"),
		ExpressionAttributeNames:  map[string]string{"#c": LegacyAttrContent},
		ExpressionAttributeValues: map[string]types.AttributeValue{":c": &types.AttributeValueMemberS{Value: digest.B58String()}},
	})
	now := s.now().Unix()
	var out []cid.Cid
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, item := range page.Items {
			if exp, ok := item[LegacyAttrExpiration].(*types.AttributeValueMemberN); ok {
				if n, err := strconv.ParseInt(exp.Value, 10, 64); err == nil && n > 0 && n <= now {
					continue
				}
			}
			sv, ok := item[LegacyAttrClaim].(*types.AttributeValueMemberS)
			if !ok {
				continue
			}
			c, err := cid.Decode(sv.Value)
			if err != nil {
				continue
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// fetch reads and decodes the claim CAR {cid}/{cid}.car.
func (s *LegacySource) fetch(ctx context.Context, id cid.Cid) (delegation.Delegation, error) {
	key := LegacyClaimKey(id)
	rc, err := s.bucket.ReadRange(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxClaimBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if len(b) > maxClaimBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", key, maxClaimBytes)
	}
	d, err := delegation.Extract(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadClaim, key, err)
	}
	if !linkCID(d.Link()).Equals(id) {
		return nil, fmt.Errorf("%w: %s holds claim %s", ErrBadClaim, key, d.Link())
	}
	return d, nil
}

// LegacyClaimKey is where the legacy layout keeps a claim: {cid}/{cid}.car.
func LegacyClaimKey(id cid.Cid) string {
	s := id.String()
	return s + "/" + s + ".car"
}
