package config

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/cargate/cargate/internal/spool"
)

// DefaultEgressSpoolMaxBytes bounds the local spool of unshipped events.
const DefaultEgressSpoolMaxBytes = spool.DefaultMaxBytes

// DefaultEgressSyncInterval is the longest a spooled event waits for fsync.
const DefaultEgressSyncInterval = spool.DefaultSyncInterval

// EgressConfig configures egress accounting: the spool every gateway
// writes, the queue it ships to, and the consumer's totals.
type EgressConfig struct {
	// Enabled records an event per response of content.
	Enabled bool
	// Spool is the spool directory; empty means <data-dir>/egress/spool.
	Spool string
	// SpoolMaxBytes bounds the spool; past it new events are dropped and counted.
	SpoolMaxBytes int64
	// SyncInterval is the longest a spooled event waits for fsync: what a
	// power loss can take (a killed process loses nothing).
	SyncInterval time.Duration
	// SQSQueueURL, when set, ships events to this SQS queue (FIFO when it ends in .fifo).
	SQSQueueURL string
	// SQSEndpoint overrides the SQS endpoint (local stand-ins).
	SQSEndpoint string
	// SQSRegion is the queue's region.
	SQSRegion string
	// SQSDeadLetterURL receives malformed messages met by the consumer.
	SQSDeadLetterURL string
	// Totals is the consumer's embedded totals directory; empty means <data-dir>/egress/totals.
	Totals string
	// DynamoDBTable, when set, keeps totals in DynamoDB instead.
	DynamoDBTable string
	// DynamoDBEndpoint overrides the DynamoDB endpoint.
	DynamoDBEndpoint string
	// Once makes the consumer drain what is waiting and exit.
	Once bool
	// Space, From and To filter the report (From/To as YYYY-MM-DD).
	Space, From, To string
}

// Flags registers the egress settings a command uses: "produce" (serve,
// gateway), "consume" or "report".
func (c *EgressConfig) Flags(fs *flag.FlagSet, role string) {
	sqs := func() {
		fs.StringVar(&c.SQSQueueURL, "egress-sqs-queue-url", "", "SQS queue URL for egress events (empty: the local spool is the queue)")
		fs.StringVar(&c.SQSEndpoint, "egress-sqs-endpoint", "", "SQS endpoint override (e.g. a local stand-in)")
		fs.StringVar(&c.SQSRegion, "egress-sqs-region", "", "SQS region (default: from the AWS environment)")
	}
	spool := func() {
		fs.StringVar(&c.Spool, "egress-spool", "", "egress spool directory (default <data-dir>/egress/spool)")
	}
	totals := func() {
		fs.StringVar(&c.Totals, "egress-totals", "", "embedded egress totals directory (default <data-dir>/egress/totals)")
		fs.StringVar(&c.DynamoDBTable, "egress-dynamodb-table", "", "DynamoDB table for egress totals (empty: embedded)")
		fs.StringVar(&c.DynamoDBEndpoint, "egress-dynamodb-endpoint", "", "DynamoDB endpoint override")
	}
	switch role {
	case "produce":
		fs.BoolVar(&c.Enabled, "egress", true, "record an egress event for every response of content (/ipfs/, /ipns/, DNSLink)")
		fs.Int64Var(&c.SpoolMaxBytes, "egress-spool-max-bytes", DefaultEgressSpoolMaxBytes, "largest egress spool; past it new events are dropped and counted")
		fs.DurationVar(&c.SyncInterval, "egress-spool-sync-interval", DefaultEgressSyncInterval, "longest a spooled event waits for fsync (what a power loss can lose; a killed process loses nothing)")
		spool()
		sqs()
	case "consume":
		spool()
		sqs()
		fs.StringVar(&c.SQSDeadLetterURL, "egress-sqs-dlq-url", "", "SQS queue for malformed messages (default: a local dead-letter file)")
		totals()
		fs.BoolVar(&c.Once, "once", false, "drain what is waiting, then exit")
	case "report":
		totals()
		fs.StringVar(&c.Space, "space", "", "report only this space DID")
		fs.StringVar(&c.From, "from", "", "first day, YYYY-MM-DD (default 30 days before --to)")
		fs.StringVar(&c.To, "to", "", "last day, YYYY-MM-DD (default today)")
	default:
		panic("config: unknown egress role " + role)
	}
}

// Validate explains what is wrong, if anything.
func (c *EgressConfig) Validate() error {
	var errs []error
	for name, v := range map[string]string{"--from": c.From, "--to": c.To} {
		if v != "" {
			if _, err := time.Parse(time.DateOnly, v); err != nil {
				errs = append(errs, fmt.Errorf("%s %q: use YYYY-MM-DD", name, v))
			}
		}
	}
	if c.SpoolMaxBytes < 0 {
		errs = append(errs, errors.New("--egress-spool-max-bytes must not be negative"))
	}
	if c.SyncInterval < 0 {
		errs = append(errs, errors.New("--egress-spool-sync-interval must not be negative"))
	}
	return errors.Join(errs...)
}

// SpoolDir is the spool directory for dataDir.
func (c *EgressConfig) SpoolDir(dataDir string) string {
	if c.Spool != "" {
		return c.Spool
	}
	return filepath.Join(dataDir, "egress", "spool")
}

// TotalsDir is the totals directory for dataDir.
func (c *EgressConfig) TotalsDir(dataDir string) string {
	if c.Totals != "" {
		return c.Totals
	}
	return filepath.Join(dataDir, "egress", "totals")
}
