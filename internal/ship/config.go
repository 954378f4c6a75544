package ship

import (
	"cmp"
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
	DefaultShipBatch      = 100                    // events read from the spool per round
	DefaultShipIdle       = 200 * time.Millisecond // spool poll interval when empty
	DefaultRetryMin       = 200 * time.Millisecond // first retry delay when the queue fails
	DefaultRetryMax       = 30 * time.Second       // retry delay ceiling
	DefaultSendTimeout    = 15 * time.Second       // deadline of one queue call
	DefaultMessageGroupID = ""                     // FIFO group: "" means one group per event
	DefaultDeadLetterName = "dead-letter.jsonl"    // local dead-letter file name
	defaultSQSAWSRegion   = "us-east-1"
)

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
	// Registerer receives the shipper's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger receives operational log lines; nil means slog.Default().
	Logger *slog.Logger
}

func (c *ShipperConfig) withDefaults(spoolDir string) ShipperConfig {
	out := *c
	out.BatchSize = cmp.Or(out.BatchSize, DefaultShipBatch)
	out.IdleWait = cmp.Or(out.IdleWait, DefaultShipIdle)
	out.RetryMin = cmp.Or(out.RetryMin, DefaultRetryMin)
	out.RetryMax = cmp.Or(out.RetryMax, DefaultRetryMax)
	out.SendTimeout = cmp.Or(out.SendTimeout, DefaultSendTimeout)
	out.DeadLetterFile = cmp.Or(out.DeadLetterFile, spoolDir+"/"+DefaultDeadLetterName)
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	return out
}

// Validate explains what is wrong with c, if anything.
func (c *ShipperConfig) Validate() error {
	d := c.withDefaults("")
	var errs []error
	if d.BatchSize < 0 || d.BatchSize > 10000 {
		errs = append(errs, fmt.Errorf("ship: BatchSize %d out of range 1..10000", d.BatchSize))
	}
	if d.RetryMin < 0 || d.RetryMax < d.RetryMin {
		errs = append(errs, fmt.Errorf("ship: need 0 <= RetryMin (%s) <= RetryMax (%s)", d.RetryMin, d.RetryMax))
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
			errs = append(errs, fmt.Errorf("ship sqs: %s %q is not an absolute URL like https://sqs.us-east-1.amazonaws.com/123456789012/egress", name, v))
		}
	}
	return errors.Join(errs...)
}
