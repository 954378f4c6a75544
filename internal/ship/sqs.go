package ship

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/cargate/cargate/internal/egress"
)

// sqsBatchMax is SQS's limit of entries per batch call.
const sqsBatchMax = 10

// SQSQueue is the SQS backend: a Queue for the shipper and a source for RunConsume.
type SQSQueue struct {
	c      *sqs.Client
	cfg    SQSConfig
	log    *slog.Logger
	warned atomic.Bool // the warning about unaccounted entries was logged
}

var _ Queue = (*SQSQueue)(nil)

// NewSQSQueue builds a client for cfg.QueueURL with the SDK's default
// credential chain and HTTP client (which honours AWS_CA_BUNDLE).
func NewSQSQueue(ctx context.Context, cfg SQSConfig, log *slog.Logger) (*SQSQueue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	awsCfg, err := LoadAWSConfig(ctx, cfg.Region, defaultSQSAWSRegion)
	if err != nil {
		return nil, err
	}
	c := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	if log == nil {
		log = slog.Default()
	}
	return &SQSQueue{c: c, cfg: cfg, log: log}, nil
}

// LoadAWSConfig loads the SDK's configuration (credentials, AWS_REGION),
// overriding the region with region when set, else falling back to fallback.
// The billing side uses it for DynamoDB so both sides resolve AWS alike.
func LoadAWSConfig(ctx context.Context, region, fallback string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	c, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return c, fmt.Errorf("ship: load AWS config: %w", err)
	}
	if c.Region == "" {
		c.Region = fallback
	}
	return c, nil
}

// Send sends msgs in batches of 10. Entries the reply marks failed are
// reported per message (permanent when SQS blames the sender). Entries the
// reply lists as neither successful nor failed (seen with some SQS
// stand-ins) are re-sent one by one with SendMessage, whose reply is
// unambiguous: at-least-once holds, a duplicate may result, and consumers
// drop duplicates by id (FIFO queues also drop them by dedup id).
func (q *SQSQueue) Send(ctx context.Context, msgs []Message) ([]error, error) {
	errs := make([]error, len(msgs))
	for start := 0; start < len(msgs); start += sqsBatchMax {
		chunk := msgs[start:min(start+sqsBatchMax, len(msgs))]
		if err := q.sendBatch(ctx, chunk, errs[start:]); err != nil {
			for i := start; i < len(msgs); i++ {
				errs[i] = err
			}
			return errs, nil
		}
	}
	return errs, nil
}

func (q *SQSQueue) sendBatch(ctx context.Context, chunk []Message, errs []error) error {
	entries := make([]types.SendMessageBatchRequestEntry, len(chunk))
	for i, m := range chunk {
		entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(m.Body))}
		if q.cfg.fifo() {
			entries[i].MessageGroupId, entries[i].MessageDeduplicationId = aws.String(q.group(m)), aws.String(m.ID)
		}
	}
	out, err := q.c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.cfg.QueueURL), Entries: entries})
	if err != nil {
		return fmt.Errorf("ship: sqs SendMessageBatch: %w", err)
	}
	known := make([]bool, len(chunk))
	for _, s := range out.Successful {
		if i, err := strconv.Atoi(aws.ToString(s.Id)); err == nil && i >= 0 && i < len(chunk) {
			known[i] = true
		}
	}
	for _, f := range out.Failed {
		i, err := strconv.Atoi(aws.ToString(f.Id))
		if err != nil || i < 0 || i >= len(chunk) {
			continue
		}
		known[i] = true
		errs[i] = fmt.Errorf("ship: sqs entry failed: %s: %s", aws.ToString(f.Code), aws.ToString(f.Message))
		if f.SenderFault {
			errs[i] = fmt.Errorf("%w: %s: %s", ErrRejected, aws.ToString(f.Code), aws.ToString(f.Message))
		}
	}
	for i, ok := range known {
		if !ok {
			if !q.warned.Swap(true) { // once: a stand-in that does it, does it on every call
				q.log.Warn("ship: SendMessageBatch reply did not account for some entries; re-sending them one by one from now on whenever it happens (duplicates are dropped by the consumer)")
			}
			errs[i] = q.sendOne(ctx, chunk[i])
		}
	}
	return nil
}

func (q *SQSQueue) sendOne(ctx context.Context, m Message) error {
	in := &sqs.SendMessageInput{QueueUrl: aws.String(q.cfg.QueueURL), MessageBody: aws.String(string(m.Body))}
	if q.cfg.fifo() {
		in.MessageGroupId, in.MessageDeduplicationId = aws.String(q.group(m)), aws.String(m.ID)
	}
	if _, err := q.c.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("ship: sqs SendMessage: %w", err)
	}
	return nil
}

func (q *SQSQueue) group(m Message) string {
	if q.cfg.MessageGroupID != "" {
		return q.cfg.MessageGroupID
	}
	return m.ID
}

// ReceivedMessage is a message returned by Receive, to be passed to Delete
// once handled; handle is its receipt handle.
type ReceivedMessage struct {
	Body   string // the message body, as sent (an Event as JSON)
	handle string
}

// Receive long-polls for up to 10 messages.
func (q *SQSQueue) Receive(ctx context.Context, waitSeconds int32) ([]ReceivedMessage, error) {
	out, err := q.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(q.cfg.QueueURL), MaxNumberOfMessages: sqsBatchMax, WaitTimeSeconds: waitSeconds,
	})
	if err != nil {
		return nil, fmt.Errorf("ship: sqs ReceiveMessage: %w", err)
	}
	ds := make([]ReceivedMessage, len(out.Messages))
	for i, m := range out.Messages {
		ds[i] = ReceivedMessage{Body: aws.ToString(m.Body), handle: aws.ToString(m.ReceiptHandle)}
	}
	return ds, nil
}

// Delete removes handled messages. A message whose delete is lost comes back
// after its visibility timeout and is then dropped as a duplicate.
func (q *SQSQueue) Delete(ctx context.Context, ds []ReceivedMessage) error {
	for start := 0; start < len(ds); start += sqsBatchMax {
		chunk := ds[start:min(start+sqsBatchMax, len(ds))]
		entries := make([]types.DeleteMessageBatchRequestEntry, len(chunk))
		for i, d := range chunk {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(d.handle)}
		}
		out, err := q.c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.cfg.QueueURL), Entries: entries})
		if err != nil {
			return fmt.Errorf("ship: sqs DeleteMessageBatch: %w", err)
		}
		if len(out.Failed) > 0 {
			f := out.Failed[0]
			return fmt.Errorf("ship: sqs DeleteMessageBatch: %d entries failed, first: %s: %s",
				len(out.Failed), aws.ToString(f.Code), aws.ToString(f.Message))
		}
	}
	return nil
}

// SendDeadLetter puts body on the dead-letter queue (SQSConfig.DeadLetterQueueURL,
// which must be set), with reason as a message attribute.
func (q *SQSQueue) SendDeadLetter(ctx context.Context, body, reason string) error {
	in := &sqs.SendMessageInput{QueueUrl: aws.String(q.cfg.DeadLetterQueueURL), MessageBody: aws.String(body),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"reason": {DataType: aws.String("String"), StringValue: aws.String(reason)},
		}}
	if strings.HasSuffix(q.cfg.DeadLetterQueueURL, ".fifo") {
		in.MessageGroupId = aws.String("dead-letter")
		in.MessageDeduplicationId = aws.String(egress.NewID(time.Now()))
	}
	if _, err := q.c.SendMessage(ctx, in); err != nil {
		return errors.Join(errors.New("ship: sqs dead-letter SendMessage"), err)
	}
	return nil
}
