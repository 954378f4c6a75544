package billing

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/internal/egress"
	"github.com/cargate/cargate/internal/ship"
)

// serviceEndpoint returns the endpoint in env, skipping the test when it is
// unset locally and failing it in CI, where the services must be running.
func serviceEndpoint(t *testing.T, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is unset in CI; run scripts/services.sh start and eval \"$(scripts/services.sh env)\"", env)
		}
		t.Skipf("%s is unset; start the local services with scripts/services.sh start and eval \"$(scripts/services.sh env)\"", env)
	}
	return v
}

func testSQSClient(t *testing.T, endpoint string) *sqs.Client {
	t.Helper()
	cfg, err := ship.LoadAWSConfig(context.Background(), "", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// createQueue makes a fresh queue (FIFO when fifo) and returns its URL.
func createQueue(t *testing.T, c *sqs.Client, fifo bool) string {
	t.Helper()
	name := "egress-" + strings.ToLower(egress.NewID(time.Now()))
	in := &sqs.CreateQueueInput{QueueName: aws.String(name)}
	if fifo {
		in.QueueName = aws.String(name + ".fifo")
		in.Attributes = map[string]string{"FifoQueue": "true"}
	}
	out, err := c.CreateQueue(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	url := aws.ToString(out.QueueUrl)
	t.Cleanup(func() { _, _ = c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(url)}) })
	return url
}

// produce records n events spread over spaces did:key:s0..s(spaces-1), each
// of i+1 bytes, and returns the expected totals per space.
func produce(t *testing.T, p *egress.Producer, from, n, spaces int) map[string]int64 {
	t.Helper()
	want := map[string]int64{}
	for i := from; i < from+n; i++ {
		sp := fmt.Sprintf("did:key:s%d", i%spaces)
		if err := p.Record(testEvent(i, sp, int64(i+1))); err != nil {
			t.Fatal(err)
		}
		want[sp] += int64(i + 1)
	}
	return want
}

// shipUntilDrained runs a shipper over p to q until p's spool is empty.
func shipUntilDrained(t *testing.T, p *egress.Producer, reg *prometheus.Registry, q ship.Queue) {
	t.Helper()
	s, err := ship.NewShipper(p, q, ship.ShipperConfig{IdleWait: 10 * time.Millisecond, RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond, Registerer: reg, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for pending(t, reg) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := pending(t, reg); n != 0 {
		t.Fatalf("%d events still in the spool after 30s", n)
	}
}

// pending is the producer's count of events not yet acknowledged by the queue.
func pending(t *testing.T, reg *prometheus.Registry) int64 {
	return int64(metric(t, reg, "cargate_egress_spool_events"))
}

// checkTotals compares the totals in dir with want (bytes per space).
func checkTotals(t *testing.T, rc ReportConfig, want map[string]int64) {
	t.Helper()
	rc.From, rc.To = testEvent(0, "", 0).ServedAt, testEvent(0, "", 0).ServedAt
	ts, err := ReadTotals(context.Background(), rc)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, tt := range ts {
		got[tt.Space] = tt.Bytes
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("totals %v, want %v", got, want)
	}
}

func consumeSQS(t *testing.T, endpoint, url, dlq, totalsDir string) {
	t.Helper()
	cfg := ConsumeConfig{SQS: ship.SQSConfig{QueueURL: url, Endpoint: endpoint, DeadLetterQueueURL: dlq},
		TotalsDir: totalsDir, Once: true, Logger: quietLog()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := RunConsume(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

func TestSQSShipConsumeAndDuplicates(t *testing.T) {
	endpoint := serviceEndpoint(t, "CARGATE_TEST_SQS_ENDPOINT")
	c := testSQSClient(t, endpoint)
	for _, fifo := range []bool{false, true} {
		t.Run(fmt.Sprintf("fifo=%v", fifo), func(t *testing.T) {
			url := createQueue(t, c, fifo)
			p, reg := openTestProducer(t, t.TempDir())
			defer p.Close()
			want := produce(t, p, 0, 95, 4)
			q, err := ship.NewSQSQueue(context.Background(), ship.SQSConfig{QueueURL: url, Endpoint: endpoint}, quietLog())
			if err != nil {
				t.Fatal(err)
			}
			shipUntilDrained(t, p, reg, q)
			// Deliver some events a second time, as a retrying shipper would.
			dup := []ship.Message{{ID: "ev-000003", Body: mustJSON(t, testEvent(3, "did:key:s3", 4))}}
			if errs, err := q.Send(context.Background(), dup); err != nil || errs[0] != nil {
				t.Fatal(err, errs)
			}
			totalsDir := t.TempDir()
			consumeSQS(t, endpoint, url, "", totalsDir)
			checkTotals(t, ReportConfig{TotalsDir: totalsDir}, want)
		})
	}
}

func TestSQSUnreachableThenBack(t *testing.T) {
	endpoint := serviceEndpoint(t, "CARGATE_TEST_SQS_ENDPOINT")
	c := testSQSClient(t, endpoint)
	url := createQueue(t, c, false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	p, reg := openTestProducer(t, t.TempDir())
	defer p.Close()
	want := produce(t, p, 0, 40, 3)
	down, _ := ship.NewSQSQueue(context.Background(), ship.SQSConfig{QueueURL: url, Endpoint: closed}, quietLog())
	s, _ := ship.NewShipper(p, down, ship.ShipperConfig{IdleWait: 10 * time.Millisecond, RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond, SendTimeout: time.Second, Registerer: reg, Logger: quietLog()})
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	go func() { _ = s.Run(ctx) }()
	// Events keep arriving while the queue is down; they must spool.
	for i := range 3 {
		for sp, b := range produce(t, p, 100+i*10, 10, 3) {
			want[sp] += b
		}
		time.Sleep(200 * time.Millisecond)
	}
	<-ctx.Done()
	cancel()
	time.Sleep(50 * time.Millisecond)
	if v := metric(t, reg, "cargate_egress_events_shipped_total"); v != 0 {
		t.Fatalf("shipped %v events to a closed port", v)
	}
	if v := metric(t, reg, "cargate_egress_ship_failures_total"); v == 0 {
		t.Fatal("no send failures counted while the queue was down")
	}
	if n := pending(t, reg); n != 70 {
		t.Fatalf("spool holds %d events, want 70", n)
	}
	up, _ := ship.NewSQSQueue(context.Background(), ship.SQSConfig{QueueURL: url, Endpoint: endpoint}, quietLog())
	shipUntilDrained(t, p, reg, up)
	totalsDir := t.TempDir()
	consumeSQS(t, endpoint, url, "", totalsDir)
	checkTotals(t, ReportConfig{TotalsDir: totalsDir}, want)
}

func TestSQSMalformedMessagesDeadLettered(t *testing.T) {
	endpoint := serviceEndpoint(t, "CARGATE_TEST_SQS_ENDPOINT")
	c := testSQSClient(t, endpoint)
	url, dlq := createQueue(t, c, false), createQueue(t, c, false)
	bad := []string{"not json", `{"v":1,"id":"x"}`, `{"v":99,"id":"y","bytes":1,"servedAt":"2025-03-04T00:00:00Z","status":200}`}
	good := map[string]int64{}
	ctx := context.Background()
	for i, b := range bad {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
		ev := testEvent(i, "did:key:ok", 100)
		good["did:key:ok"] += 100
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(string(mustJSON(t, ev)))}); err != nil {
			t.Fatal(err)
		}
	}
	totalsDir := t.TempDir()
	consumeSQS(t, endpoint, url, dlq, totalsDir)
	checkTotals(t, ReportConfig{TotalsDir: totalsDir}, good)
	var got []string
	for range 5 {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlq), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			got = append(got, aws.ToString(m.Body))
		}
		if len(got) >= len(bad) {
			break
		}
	}
	if len(got) != len(bad) {
		t.Fatalf("dead-letter queue holds %q, want %q", got, bad)
	}
	left, _ := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if len(left.Messages) != 0 {
		t.Fatalf("%d messages left on the source queue", len(left.Messages))
	}
}

func TestDynamoDBTotals(t *testing.T) {
	endpoint := serviceEndpoint(t, "CARGATE_TEST_DYNAMODB_ENDPOINT")
	dc := DynamoDBConfig{Table: "egress-" + strings.ToLower(egress.NewID(time.Now())), Endpoint: endpoint}
	ctx := context.Background()
	if err := CreateDynamoDBTable(ctx, dc); err != nil {
		t.Fatal(err)
	}
	store, err := openDynamoTotals(ctx, dc)
	if err != nil {
		t.Fatal(err)
	}
	testTotalsIdempotent(t, store)

	// End to end through the spool consumer, consumed twice (a redelivery).
	dc.Table += "-e2e"
	if err := CreateDynamoDBTable(ctx, dc); err != nil {
		t.Fatal(err)
	}
	spoolDir := t.TempDir()
	p, _ := openTestProducer(t, spoolDir)
	want := produce(t, p, 0, 60, 3)
	p.Close()
	cfg := ConsumeConfig{SpoolDir: spoolDir, DynamoDB: dc, DeadLetterFile: spoolDir + "/dead", Once: true, Logger: quietLog()}
	if err := RunConsume(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	// Forget the cursor (the spool reader's file "cursor"): a redelivery.
	if err := os.Remove(spoolDir + "/cursor"); err != nil {
		t.Fatal(err)
	}
	p, _ = openTestProducer(t, spoolDir)
	p.Close()
	if err := RunConsume(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	checkTotals(t, ReportConfig{DynamoDB: dc}, want)
}
