package claimstore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/cargate/cargate/internal/retry"
)

// Attribute names of the DynamoDB tables.
const (
	attrClaim = "claim" // claim CID (string): claims table key, keys table sort key
	attrData  = "data"  // claim archive bytes
	attrKey   = "key"   // base58btc multihash: keys table partition key
)

// batchWriteMax is DynamoDB's limit of items in one BatchWriteItem.
const batchWriteMax = 25

// NewDynamoClient returns a DynamoDB client for endpoint (empty: AWS),
// keeping the SDK's buildable HTTP client so AWS_CA_BUNDLE keeps working.
func NewDynamoClient(ctx context.Context, endpoint string) (*dynamodb.Client, error) {
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = 64
	})
	cfg, err := config.LoadDefaultConfig(ctx, config.WithHTTPClient(hc))
	if err != nil {
		return nil, fmt.Errorf("dynamodb: loading AWS config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// dynamoAPI is what the store calls of the DynamoDB client.
type dynamoAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Dynamo is a Store in two DynamoDB tables, for indexers on many machines:
// a claims table (claim CID → archive) and a keys table (multihash →
// claim CIDs).
type Dynamo struct {
	db          dynamoAPI
	claimsTable string
	keysTable   string
}

var _ Store = (*Dynamo)(nil)

// NewDynamo returns a Store over existing tables (see CreateDynamoTables).
func NewDynamo(db *dynamodb.Client, claimsTable, keysTable string) (*Dynamo, error) {
	if claimsTable == "" || keysTable == "" {
		return nil, errors.New("dynamodb claim store: both table names are required")
	}
	return &Dynamo{db: db, claimsTable: claimsTable, keysTable: keysTable}, nil
}

// Put implements Store. The claim is written (conditionally: an existing
// claim is never overwritten) before its keys, so Find never names a claim
// that Claim cannot return. Every write is acknowledged, hence durable,
// before Put returns.
func (d *Dynamo) Put(ctx context.Context, claim cid.Cid, data []byte, keys []multihash.Multihash) error {
	_, err := d.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(d.claimsTable),
		Item: map[string]types.AttributeValue{
			attrClaim: &types.AttributeValueMemberS{Value: claim.String()},
			attrData:  &types.AttributeValueMemberB{Value: data},
		},
		ConditionExpression:      aws.String("attribute_not_exists(#c)"),
		ExpressionAttributeNames: map[string]string{"#c": attrClaim},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("dynamodb claim store: put claim %s: %w", claim, err)
	}
	seen := map[string]bool{}
	var reqs []types.WriteRequest
	for _, k := range keys {
		s := k.B58String()
		if seen[s] {
			continue
		}
		seen[s] = true
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
			attrKey:   &types.AttributeValueMemberS{Value: s},
			attrClaim: &types.AttributeValueMemberS{Value: claim.String()},
		}}})
	}
	for len(reqs) > 0 {
		n := min(batchWriteMax, len(reqs))
		if err := d.batchWrite(ctx, reqs[:n]); err != nil {
			return fmt.Errorf("dynamodb claim store: keys of claim %s: %w", claim, err)
		}
		reqs = reqs[n:]
	}
	return nil
}

// batchWrite writes reqs, retrying unprocessed items with backoff (the
// project's one policy, internal/retry) for at most 9 calls.
func (d *Dynamo) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	pol := retry.Policy{Base: 20 * time.Millisecond, Max: time.Second, Attempts: 9}
	for fails := 1; ; fails++ {
		out, err := d.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{d.keysTable: reqs},
		})
		if err != nil {
			return err
		}
		reqs = out.UnprocessedItems[d.keysTable]
		if len(reqs) == 0 {
			return nil
		}
		if pol.GiveUp(fails) {
			return fmt.Errorf("%d items still unprocessed after %d attempts", len(reqs), fails)
		}
		if err := retry.Sleep(ctx, pol.Delay(fails, 0)); err != nil {
			return err
		}
	}
}

// Find implements Store.
func (d *Dynamo) Find(ctx context.Context, key multihash.Multihash) ([]cid.Cid, error) {
	p := dynamodb.NewQueryPaginator(d.db, &dynamodb.QueryInput{
		TableName:                 aws.String(d.keysTable),
		KeyConditionExpression:    aws.String("#k = :k"),
		ExpressionAttributeNames:  map[string]string{"#k": attrKey, "#c": attrClaim},
		ExpressionAttributeValues: map[string]types.AttributeValue{":k": &types.AttributeValueMemberS{Value: key.B58String()}},
		ProjectionExpression:      aws.String("#c"),
		ConsistentRead:            aws.Bool(true),
	})
	var out []cid.Cid
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("dynamodb claim store: find %s: %w", key.B58String(), err)
		}
		for _, item := range page.Items {
			s, ok := item[attrClaim].(*types.AttributeValueMemberS)
			if !ok {
				return nil, fmt.Errorf("dynamodb claim store: item under %s has no claim", key.B58String())
			}
			c, err := cid.Decode(s.Value)
			if err != nil {
				return nil, fmt.Errorf("dynamodb claim store: corrupt claim CID %q: %w", s.Value, err)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// Claim implements Store.
func (d *Dynamo) Claim(ctx context.Context, claim cid.Cid) ([]byte, error) {
	out, err := d.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(d.claimsTable),
		Key:            map[string]types.AttributeValue{attrClaim: &types.AttributeValueMemberS{Value: claim.String()}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("dynamodb claim store: get %s: %w", claim, err)
	}
	if out.Item == nil {
		return nil, fmt.Errorf("%s: %w", claim, ErrNotFound)
	}
	b, ok := out.Item[attrData].(*types.AttributeValueMemberB)
	if !ok {
		return nil, fmt.Errorf("dynamodb claim store: claim %s has no data", claim)
	}
	return b.Value, nil
}

// Ping checks that the claims table is reachable (for /readyz).
func (d *Dynamo) Ping(ctx context.Context) error {
	_, err := d.Claim(ctx, cid.NewCidV1(cid.Raw, multihash.Multihash{0x00, 0x00}))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// Close implements Store; the client holds nothing to release.
func (d *Dynamo) Close() error { return nil }

// CreateDynamoTables creates the two tables (on-demand billing) if they
// do not exist, and waits until they are active.
func CreateDynamoTables(ctx context.Context, db *dynamodb.Client, claimsTable, keysTable string) error {
	specs := map[string][]types.KeySchemaElement{
		claimsTable: {{AttributeName: aws.String(attrClaim), KeyType: types.KeyTypeHash}},
		keysTable: {
			{AttributeName: aws.String(attrKey), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrClaim), KeyType: types.KeyTypeRange},
		},
	}
	for table, schema := range specs {
		var attrs []types.AttributeDefinition
		for _, k := range schema {
			attrs = append(attrs, types.AttributeDefinition{AttributeName: k.AttributeName, AttributeType: types.ScalarAttributeTypeS})
		}
		_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName: aws.String(table), KeySchema: schema, AttributeDefinitions: attrs,
			BillingMode: types.BillingModePayPerRequest,
		})
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return fmt.Errorf("create table %s: %w", table, err)
		}
		w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
			o.MinDelay, o.MaxDelay = 50*time.Millisecond, 2*time.Second
		})
		if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute); err != nil {
			return fmt.Errorf("wait for table %s: %w", table, err)
		}
	}
	return nil
}
