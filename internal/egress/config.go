package egress

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults used when a config field is left at its zero value.
const (
	DefaultSpoolMaxBytes    = 1 << 30                // 1 GiB of unshipped events (~3M events)
	DefaultSegmentBytes     = 16 << 20               // 16 MiB per segment file
	DefaultSyncInterval     = time.Second            // longest an event waits for fsync
	DefaultSyncEvery        = 10000                  // fsync early after this many events (an msync costs ~0.3 ms of CPU whatever its size)
	DefaultShipBatch        = 100                    // events read from the spool per round
	DefaultShipIdle         = 200 * time.Millisecond // spool poll interval when empty
	DefaultRetryMin         = 200 * time.Millisecond // first retry delay when the queue fails
	DefaultRetryMax         = 30 * time.Second       // retry delay ceiling
	DefaultSendTimeout      = 15 * time.Second       // deadline of one queue call
	DefaultReceiveWait      = 10 * time.Second       // SQS long-poll wait while consuming
	DefaultMessageGroupID   = ""                     // FIFO group: "" means one group per event
	DefaultReportDays       = 31                     // report window when From is zero
	DefaultDeadLetterName   = "dead-letter.jsonl"    // local dead-letter file name
	DefaultSpoolPollOnce    = time.Second            // receive wait in Once mode
	DefaultSeenRetention    = 35 * 24 * time.Hour    // how long counted ids are remembered (SQS keeps messages ≤ 14 days)
	minSpoolSegmentBytes    = 64 << 10
	maxRecordBytes          = 1 << 20
	defaultDynamoAWSRegion  = "us-east-1"
	defaultSQSAWSRegion     = "us-east-1"
	defaultConsumerParallel = 8
	rateLogEvery            = 10 * time.Second
)

// ProducerConfig configures the durable local spool written on the request path.
type ProducerConfig struct {
	// Dir holds the spool segments, the reader cursor and the lock files.
	// It must be on a local file system. Required.
	Dir string
	// MaxBytes bounds the spool on disk. When it is full new events are
	// dropped and counted (see doc.go "Spool full"). Default DefaultSpoolMaxBytes.
	MaxBytes int64
	// SegmentBytes is the size at which the active segment is sealed and a
	// new one started; shipped segments are deleted whole. Default DefaultSegmentBytes.
	SegmentBytes int64
	// SyncInterval is the longest an event stays written but not fsynced.
	// Default DefaultSyncInterval.
	SyncInterval time.Duration
	// SyncEvery triggers an fsync as soon as this many events are unsynced.
	// Default DefaultSyncEvery.
	SyncEvery int
	// Registerer receives the producer and shipper metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger receives operational log lines; nil means slog.Default().
	Logger *slog.Logger
}

func (c *ProducerConfig) withDefaults() ProducerConfig {
	out := *c
	setDefault(&out.MaxBytes, DefaultSpoolMaxBytes)
	setDefault(&out.SegmentBytes, DefaultSegmentBytes)
	setDefault(&out.SyncInterval, DefaultSyncInterval)
	setDefault(&out.SyncEvery, DefaultSyncEvery)
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	return out
}

// Validate explains what is wrong with c, if anything.
func (c *ProducerConfig) Validate() error {
	d := c.withDefaults()
	var errs []error
	if d.Dir == "" {
		errs = append(errs, errors.New("egress spool: Dir is empty; set it to a local directory, e.g. <data dir>/egress-spool"))
	}
	if d.SegmentBytes < minSpoolSegmentBytes {
		errs = append(errs, fmt.Errorf("egress spool: SegmentBytes %d is below the minimum %d", d.SegmentBytes, minSpoolSegmentBytes))
	}
	if d.MaxBytes < 2*d.SegmentBytes {
		errs = append(errs, fmt.Errorf("egress spool: MaxBytes %d must be at least twice SegmentBytes (%d) so a segment can be shipped while the next fills", d.MaxBytes, d.SegmentBytes))
	}
	if d.SyncInterval < 0 || d.SyncEvery < 0 {
		errs = append(errs, errors.New("egress spool: SyncInterval and SyncEvery must not be negative"))
	}
	return errors.Join(errs...)
}

// ShipperConfig configures the loop that moves spooled events to a Queue.
type ShipperConfig struct {
	// BatchSize is how many events are read from the spool and sent per
	// round (the SQS backend splits them into calls of 10). Default DefaultShipBatch.
	BatchSize int
	// IdleWait is how long the shipper sleeps when the spool is empty. Default DefaultShipIdle.
	IdleWait time.Duration
	// RetryMin and RetryMax bound the exponential backoff (with jitter)
	// while the queue fails. Defaults DefaultRetryMin, DefaultRetryMax.
	RetryMin, RetryMax time.Duration
	// SendTimeout is the deadline of one Queue.Send. Default DefaultSendTimeout.
	SendTimeout time.Duration
	// DeadLetterFile receives events the queue rejects permanently (for
	// example too large). Default <spool dir>/dead-letter.jsonl.
	DeadLetterFile string
}

func (c *ShipperConfig) withDefaults(spoolDir string) ShipperConfig {
	out := *c
	setDefault(&out.BatchSize, DefaultShipBatch)
	setDefault(&out.IdleWait, DefaultShipIdle)
	setDefault(&out.RetryMin, DefaultRetryMin)
	setDefault(&out.RetryMax, DefaultRetryMax)
	setDefault(&out.SendTimeout, DefaultSendTimeout)
	setDefault(&out.DeadLetterFile, spoolDir+"/"+DefaultDeadLetterName)
	return out
}

// Validate explains what is wrong with c, if anything.
func (c *ShipperConfig) Validate() error {
	d := c.withDefaults("")
	var errs []error
	if d.BatchSize < 0 || d.BatchSize > 10000 {
		errs = append(errs, fmt.Errorf("egress shipper: BatchSize %d out of range 1..10000", d.BatchSize))
	}
	if d.RetryMin < 0 || d.RetryMax < d.RetryMin {
		errs = append(errs, fmt.Errorf("egress shipper: need 0 <= RetryMin (%s) <= RetryMax (%s)", d.RetryMin, d.RetryMax))
	}
	return errors.Join(errs...)
}

// SQSConfig names an SQS queue (standard, or FIFO when the URL ends in ".fifo").
type SQSConfig struct {
	// QueueURL is the queue's URL as returned by CreateQueue/GetQueueUrl.
	QueueURL string
	// Endpoint overrides the SQS endpoint (for a local stand-in); empty uses AWS's.
	Endpoint string
	// Region is the AWS region; empty uses the SDK's resolution (AWS_REGION),
	// then us-east-1.
	Region string
	// MessageGroupID is the FIFO message group. Empty (DefaultMessageGroupID)
	// uses the event id, so FIFO throughput is not limited to one group;
	// billing totals do not depend on order.
	MessageGroupID string
	// DeadLetterQueueURL receives malformed messages while consuming; empty
	// means the local dead-letter file.
	DeadLetterQueueURL string
}

// fifo reports whether the queue is a FIFO queue.
func (c *SQSConfig) fifo() bool { return strings.HasSuffix(c.QueueURL, ".fifo") }

// Validate explains what is wrong with c, if anything.
func (c *SQSConfig) Validate() error {
	var errs []error
	for name, v := range map[string]string{"QueueURL": c.QueueURL, "DeadLetterQueueURL": c.DeadLetterQueueURL, "Endpoint": c.Endpoint} {
		if v == "" && name != "QueueURL" {
			continue
		}
		if u, err := url.Parse(v); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("egress sqs: %s %q is not an absolute URL like https://sqs.us-east-1.amazonaws.com/123456789012/egress", name, v))
		}
	}
	return errors.Join(errs...)
}

// DynamoDBConfig names the DynamoDB table holding totals. The table needs a
// string partition key "pk" and a string sort key "sk" (see docs/egress.md).
type DynamoDBConfig struct {
	// Table is the table name; empty means use the embedded store instead.
	Table string
	// Endpoint overrides the DynamoDB endpoint (for a local stand-in).
	Endpoint string
	// Region is the AWS region; empty uses AWS_REGION, then us-east-1.
	Region string
}

// ConsumeConfig configures RunConsume.
type ConsumeConfig struct {
	// SpoolDir is the local spool to read when SQS.QueueURL is empty (the
	// embedded queue). It must not also be shipped by a Shipper.
	SpoolDir string
	// SQS is the queue to read; used when SQS.QueueURL is set.
	SQS SQSConfig
	// TotalsDir is the pebble directory holding totals and seen ids; used
	// when DynamoDB.Table is empty.
	TotalsDir string
	// DynamoDB, when Table is set, holds totals instead of TotalsDir.
	DynamoDB DynamoDBConfig
	// DeadLetterFile receives malformed messages when no dead-letter queue
	// is configured. Default TotalsDir (else SpoolDir)/dead-letter.jsonl.
	DeadLetterFile string
	// Once drains what is waiting and returns instead of running until ctx ends.
	Once bool
	// SeenRetention is how long the embedded store remembers the id of a
	// counted event (by the day it was served), to drop redeliveries.
	// Default DefaultSeenRetention; negative keeps ids forever.
	SeenRetention time.Duration
	// ReceiveWait is the SQS long-poll wait (DefaultReceiveWait; DefaultSpoolPollOnce when Once).
	ReceiveWait time.Duration
	// Registerer receives the consumer metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger receives operational log lines; nil means slog.Default().
	Logger *slog.Logger
}

func (c *ConsumeConfig) withDefaults() ConsumeConfig {
	out := *c
	if out.Once {
		setDefault(&out.ReceiveWait, DefaultSpoolPollOnce)
	}
	setDefault(&out.ReceiveWait, DefaultReceiveWait)
	setDefault(&out.SeenRetention, DefaultSeenRetention)
	if out.DeadLetterFile == "" {
		dir := out.TotalsDir
		if dir == "" {
			dir = out.SpoolDir
		}
		if dir != "" {
			out.DeadLetterFile = dir + "/" + DefaultDeadLetterName
		}
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	return out
}

// Validate explains what is wrong with c, if anything.
func (c *ConsumeConfig) Validate() error {
	d := c.withDefaults()
	var errs []error
	if d.SQS.QueueURL == "" && d.SpoolDir == "" {
		errs = append(errs, errors.New("egress consume: nothing to read; set SpoolDir (embedded queue) or SQS.QueueURL"))
	}
	if d.SQS.QueueURL != "" {
		errs = append(errs, d.SQS.Validate())
	}
	if d.TotalsDir == "" && d.DynamoDB.Table == "" {
		errs = append(errs, errors.New("egress consume: nowhere to keep totals; set TotalsDir (embedded) or DynamoDB.Table"))
	}
	if d.DeadLetterFile == "" && d.SQS.DeadLetterQueueURL == "" {
		errs = append(errs, errors.New("egress consume: no dead-letter place; set DeadLetterFile or SQS.DeadLetterQueueURL"))
	}
	if d.ReceiveWait < 0 || d.ReceiveWait > 20*time.Second {
		errs = append(errs, fmt.Errorf("egress consume: ReceiveWait %s out of range 0..20s (SQS's long-poll limit)", d.ReceiveWait))
	}
	return errors.Join(errs...)
}

// ReportConfig configures RunReport and ReadTotals.
type ReportConfig struct {
	// TotalsDir is the pebble directory written by RunConsume (embedded store).
	TotalsDir string
	// DynamoDB, when Table is set, is read instead of TotalsDir.
	DynamoDB DynamoDBConfig
	// Space limits the report to one space DID; empty reports all spaces.
	// The pseudo-space "-" selects events that named no space.
	Space string
	// From and To bound the report by UTC day, both inclusive. Zero To means
	// today; zero From means DefaultReportDays-1 days before To.
	From, To time.Time
}

func (c *ReportConfig) days() (from, to string) {
	t := c.To
	if t.IsZero() {
		t = time.Now()
	}
	f := c.From
	if f.IsZero() {
		f = t.AddDate(0, 0, -(DefaultReportDays - 1))
	}
	return f.UTC().Format(dayLayout), t.UTC().Format(dayLayout)
}

// Validate explains what is wrong with c, if anything.
func (c *ReportConfig) Validate() error {
	var errs []error
	if c.TotalsDir == "" && c.DynamoDB.Table == "" {
		errs = append(errs, errors.New("egress report: set TotalsDir (embedded) or DynamoDB.Table, the same as for consume"))
	}
	if from, to := c.days(); from > to {
		errs = append(errs, fmt.Errorf("egress report: From (%s) is after To (%s)", from, to))
	}
	if strings.ContainsAny(c.Space, "/#") {
		errs = append(errs, fmt.Errorf("egress report: space %q contains '/' or '#'; pass a DID", c.Space))
	}
	return errors.Join(errs...)
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}
