package indexer_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/cargate/cargate/indexer"
	"github.com/cargate/cargate/internal/blobstore"
	"github.com/cargate/cargate/internal/claimstore"
)

// service returns the endpoint in env, or skips (fails in CI).
func service(t *testing.T, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		msg := env + " is not set: run `scripts/services.sh start && eval \"$(scripts/services.sh env)\"`"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return v
}

// legacyLayout creates a legacy claims table and bucket.
func legacyLayout(t *testing.T) (*dynamodb.Client, string, *blobstore.S3) {
	t.Helper()
	ctx := context.Background()
	s3ep := service(t, "CARGATE_TEST_S3_ENDPOINT")
	db, err := claimstore.NewDynamoClient(ctx, service(t, "CARGATE_TEST_DYNAMODB_ENDPOINT"))
	if err != nil {
		t.Fatal(err)
	}
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	table := "legacy-claims-" + suffix
	_, err = db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(table),
		KeySchema: []dtypes.KeySchemaElement{
			{AttributeName: aws.String(indexer.LegacyAttrContent), KeyType: dtypes.KeyTypeHash},
			{AttributeName: aws.String(indexer.LegacyAttrClaim), KeyType: dtypes.KeyTypeRange},
		},
		AttributeDefinitions: []dtypes.AttributeDefinition{
			{AttributeName: aws.String(indexer.LegacyAttrContent), AttributeType: dtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String(indexer.LegacyAttrClaim), AttributeType: dtypes.ScalarAttributeTypeS},
		},
		BillingMode: dtypes.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	bucket := "legacy-claims-" + suffix
	store, err := blobstore.NewS3(ctx, blobstore.S3Config{Bucket: bucket, Endpoint: s3ep, AccessKey: "test", SecretKey: "testsecret", Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	cl := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s3ep), UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "test", SecretAccessKey: "testsecret"}, nil
		})})
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	return db, table, store
}

func putLegacy(t *testing.T, db *dynamodb.Client, table string, bucket *blobstore.S3, c *indexer.Claim, expiration int64) {
	t.Helper()
	ctx := context.Background()
	data := readAllT(t, c.Delegation.Archive())
	if err := bucket.Put(ctx, indexer.LegacyClaimKey(c.CID()), bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	item := map[string]dtypes.AttributeValue{
		indexer.LegacyAttrContent: &dtypes.AttributeValueMemberS{Value: c.Content.B58String()},
		indexer.LegacyAttrClaim:   &dtypes.AttributeValueMemberS{Value: c.CID().String()},
	}
	if expiration != 0 {
		item[indexer.LegacyAttrExpiration] = &dtypes.AttributeValueMemberN{Value: fmt.Sprint(expiration)}
	}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
}

// Claims in the legacy layout (dynalite + versitygw) are found, expired
// entries are skipped, and every block they locate reads back verified.
func TestLegacySource(t *testing.T) {
	f := newFixture(t)
	db, table, bucket := legacyLayout(t)
	ctx := context.Background()
	want, err := f.svc.Query(ctx, indexer.Query{Hashes: []multihash.Multihash{f.root.Hash()}})
	if err != nil {
		t.Fatal(err)
	}
	// The legacy tables hold every claim of the DAG: the root's answer,
	// and the location of each shard its index lists.
	all := map[cid.Cid]*indexer.Claim{}
	maps.Copy(all, want.Claims)
	for _, idx := range want.Indexes {
		for shard := range idx.View.Shards().Iterator() {
			res, err := f.svc.Query(ctx, indexer.Query{Hashes: []multihash.Multihash{shard}, Type: indexer.QueryLocation})
			if err != nil {
				t.Fatal(err)
			}
			maps.Copy(all, res.Claims)
		}
	}
	for _, c := range all {
		putLegacy(t, db, table, bucket, c, time.Now().Add(time.Hour).Unix())
	}
	// An expired claim about other content is never returned.
	other, _ := multihash.Sum([]byte("expired content"), multihash.SHA2_256, -1)
	expired, err := indexer.Decode(locationClaim(t, f.id, f.id, other))
	if err != nil {
		t.Fatal(err)
	}
	putLegacy(t, db, table, bucket, expired, time.Now().Add(-time.Hour).Unix())

	src, err := indexer.NewLegacySource(db, table, bucket)
	if err != nil {
		t.Fatal(err)
	}
	if ds, err := src.FindClaims(ctx, other); err != nil || len(ds) != 0 {
		t.Fatalf("expired: %d claims (%v), want none", len(ds), err)
	}
	reader := blobstore.NewRouter(nil, f.blobs)
	second, _, _, _ := newService(t, []indexer.ClaimFinder{src}, reader)
	got, err := second.Query(ctx, indexer.Query{Hashes: []multihash.Multihash{f.root.Hash()}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Claims) != len(want.Claims) || len(got.Indexes) != 1 {
		t.Fatalf("legacy: %d claims, %d indexes; want %d, 1", len(got.Claims), len(got.Indexes), len(want.Claims))
	}
	locs := map[string]*indexer.Claim{}
	for _, c := range got.Claims {
		if c.Kind == "assert/location" {
			locs[string(c.Content)] = c
		}
	}
	n := 0
	for _, idx := range got.Indexes {
		for shard, slices := range idx.View.Shards().Iterator() {
			loc := locs[string(shard)]
			if loc == nil {
				// An answer carries the locations of the shards that hold
				// the block asked about; the others are asked for by name.
				res, err := second.Query(ctx, indexer.Query{Hashes: []multihash.Multihash{shard}, Type: indexer.QueryLocation})
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range res.Claims {
					if c.Kind == "assert/location" && bytes.Equal(c.Content, shard) {
						loc = c
					}
				}
			}
			if loc == nil {
				t.Fatalf("no location for shard %s", shard.B58String())
			}
			u := loc.URLs[0]
			for block, pos := range slices.Iterator() {
				rc, err := reader.ReadURL(ctx, u.String(), int64(pos.Offset), int64(pos.Length))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(rc)
				rc.Close()
				dec, _ := multihash.Decode(block)
				if sum, _ := multihash.Sum(b, dec.Code, dec.Length); !bytes.Equal(sum, block) {
					t.Fatalf("block %s does not verify", block.B58String())
				}
				n++
			}
		}
	}
	if n < 5 {
		t.Fatalf("read %d blocks, want the whole DAG", n)
	}
}
