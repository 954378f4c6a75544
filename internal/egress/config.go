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
	DefaultSpoolMaxBytes  = 1 << 30                // 1 GiB of unshipped events (~3M events)
	DefaultSegmentBytes   = 16 << 20               // 16 MiB per segment file
	DefaultSyncInterval   = time.Second            // longest an event waits for fsync
	DefaultSyncEvery      = 10000                  // fsync early after this many events (an msync costs ~0.3 ms of CPU whatever its size)
	DefaultShipBatch      = 100                    // events read from the spool per round
	DefaultShipIdle       = 200 * time.Millisecond // spool poll interval when empty
	DefaultRetryMin       = 200 * time.Millisecond // first retry delay when the queue fails
	DefaultRetryMax       = 30 * time.Second       // retry delay ceiling
	DefaultSendTimeout    = 15 * time.Second       // deadline of one queue call
	DefaultMessageGroupID = ""                     // FIFO group: "" means one group per event
	DefaultDeadLetterName = "dead-letter.jsonl"    // local dead-letter file name
	minSpoolSegmentBytes  = 64 << 10
	maxRecordBytes        = 1 << 20
	defaultSQSAWSRegion   = "us-east-1"
	rateLogEvery          = 10 * time.Second
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

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}
