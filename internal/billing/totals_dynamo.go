package billing

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cargate/cargate/internal/egress"
	"github.com/cargate/cargate/internal/ship"
)

// dynamoTotals keeps totals in a DynamoDB table with string keys pk and sk:
//
//	pk "e#<day>#<space>", sk "<event id>", b <bytes>   one item per counted event
//	pk "d#<day>",         sk "<space>"                 the spaces seen on a day
//
// An event item is written with a conditional put (attribute_not_exists),
// so writing it twice changes nothing: the totals, summed from event items
// at report time, are exactly-once without transactions. The space index
// item is written first with a plain (idempotent) put, so a space with
// events is always listed for its day.
type dynamoTotals struct {
	c     *dynamodb.Client
	table string
}

func openDynamoTotals(ctx context.Context, dc DynamoDBConfig) (*dynamoTotals, error) {
	awsCfg, err := ship.LoadAWSConfig(ctx, dc.Region, defaultDynamoAWSRegion)
	if err != nil {
		return nil, err
	}
	c := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if dc.Endpoint != "" {
			o.BaseEndpoint = aws.String(dc.Endpoint)
		}
	})
	return &dynamoTotals{c: c, table: dc.Table}, nil
}

func (d *dynamoTotals) close() error { return nil }

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func (d *dynamoTotals) apply(ctx context.Context, evs []egress.Event) (int, error) {
	days := map[[2]string]bool{}
	for i := range evs {
		k := [2]string{evs[i].Day(), spaceKey(evs[i].Space)}
		if days[k] {
			continue
		}
		days[k] = true
		_, err := d.c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(d.table),
			Item: map[string]types.AttributeValue{"pk": str("d#" + k[0]), "sk": str(k[1])}})
		if err != nil {
			return 0, fmt.Errorf("egress: dynamodb put space index: %w", err)
		}
	}
	var (
		mu   sync.Mutex
		dups int
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, defaultConsumerParallel)
	)
	for i := range evs {
		sem <- struct{}{}
		wg.Add(1)
		go func(e *egress.Event) {
			defer func() { <-sem; wg.Done() }()
			dup, err := d.putEvent(ctx, e)
			mu.Lock()
			defer mu.Unlock()
			if dup {
				dups++
			}
			if err != nil {
				errs = append(errs, err)
			}
		}(&evs[i])
	}
	wg.Wait()
	return dups, errors.Join(errs...)
}

func (d *dynamoTotals) putEvent(ctx context.Context, e *egress.Event) (dup bool, err error) {
	_, err = d.c.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(d.table),
		Item: map[string]types.AttributeValue{
			"pk": str("e#" + e.Day() + "#" + spaceKey(e.Space)),
			"sk": str(e.ID),
			"b":  &types.AttributeValueMemberN{Value: strconv.FormatInt(e.Bytes, 10)},
		},
		ConditionExpression: aws.String("attribute_not_exists(sk)"),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("egress: dynamodb put event: %w", err)
	}
	return false, nil
}

func (d *dynamoTotals) totals(ctx context.Context, space, from, to string) ([]Total, error) {
	start, err := time.Parse(dayLayout, from)
	if err != nil {
		return nil, err
	}
	var out []Total
	for day := start; day.Format(dayLayout) <= to; day = day.AddDate(0, 0, 1) {
		ds := day.Format(dayLayout)
		spaces, err := d.query(ctx, "d#"+ds, "sk")
		if err != nil {
			return nil, err
		}
		for _, item := range spaces {
			sp := item["sk"].(*types.AttributeValueMemberS).Value
			if space != "" && sp != space {
				continue
			}
			t, err := d.sum(ctx, ds, sp)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
	}
	return out, nil
}

func (d *dynamoTotals) sum(ctx context.Context, day, space string) (Total, error) {
	items, err := d.query(ctx, "e#"+day+"#"+space, "b")
	if err != nil {
		return Total{}, err
	}
	t := Total{Day: day, Space: space}
	for _, it := range items {
		n, ok := it["b"].(*types.AttributeValueMemberN)
		if !ok {
			continue
		}
		b, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			return Total{}, fmt.Errorf("egress: dynamodb item with bad byte count %q", n.Value)
		}
		t.Bytes += b
		t.Events++
	}
	return t, nil
}

// query returns every item of partition pk, projected to attr.
func (d *dynamoTotals) query(ctx context.Context, pk, attr string) ([]map[string]types.AttributeValue, error) {
	p := dynamodb.NewQueryPaginator(d.c, &dynamodb.QueryInput{
		TableName:                 aws.String(d.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk)},
		ProjectionExpression:      aws.String("#a"),
		ExpressionAttributeNames:  map[string]string{"#a": attr},
	})
	var out []map[string]types.AttributeValue
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("egress: dynamodb query %s: %w", pk, err)
		}
		out = append(out, page.Items...)
	}
	return out, nil
}

// CreateDynamoDBTable creates the totals table (pay per request) when it does
// not exist yet; for development and tests, production tables are provisioned.
func CreateDynamoDBTable(ctx context.Context, dc DynamoDBConfig) error {
	d, err := openDynamoTotals(ctx, dc)
	if err != nil {
		return err
	}
	_, err = d.c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(dc.Table),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	})
	var inUse *types.ResourceInUseException
	if errors.As(err, &inUse) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("egress: create dynamodb table %s: %w", dc.Table, err)
	}
	w := dynamodb.NewTableExistsWaiter(d.c, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 5*time.Second
	})
	return w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(dc.Table)}, time.Minute)
}
