package billing

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/internal/ship"
)

// Defaults used when a config field is left at its zero value.
const (
	DefaultReceiveWait      = 10 * time.Second    // SQS long-poll wait while consuming
	DefaultReportDays       = 31                  // report window when From is zero
	DefaultSpoolPollOnce    = time.Second         // receive wait in Once mode
	DefaultSeenRetention    = 35 * 24 * time.Hour // how long counted ids are remembered (SQS keeps messages ≤ 14 days)
	defaultDynamoAWSRegion  = "us-east-1"
	defaultConsumerParallel = 8
	dayLayout               = "2006-01-02" // as egress.Event.Day
)

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
	SQS ship.SQSConfig
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
	if out.ReceiveWait == 0 {
		out.ReceiveWait = DefaultReceiveWait
		if out.Once {
			out.ReceiveWait = DefaultSpoolPollOnce
		}
	}
	if out.SeenRetention == 0 {
		out.SeenRetention = DefaultSeenRetention
	}
	if out.DeadLetterFile == "" {
		dir := out.TotalsDir
		if dir == "" {
			dir = out.SpoolDir
		}
		if dir != "" {
			out.DeadLetterFile = dir + "/" + ship.DefaultDeadLetterName
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
