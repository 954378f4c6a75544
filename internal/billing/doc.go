// Package billing is the billing side of egress accounting (cargate egress
// consume and report): it reads the events package egress produced, from
// SQS or directly from the local spool, drops duplicates by event id, keeps
// bytes and events per space per UTC day in an embedded pebble store or in
// DynamoDB, and reports them. It only acknowledges messages (deletes them
// from SQS, or moves the spool cursor) after their totals and dead letters
// are durable, so a crash at any point loses nothing and double-counts
// nothing.
//
// # Usage
//
//	err := billing.RunConsume(ctx, billing.ConsumeConfig{SpoolDir: dir, TotalsDir: totals, Once: true})
//	// or from SQS, totals in DynamoDB:
//	err = billing.RunConsume(ctx, billing.ConsumeConfig{SQS: egress.SQSConfig{QueueURL: url},
//		DynamoDB: billing.DynamoDBConfig{Table: table}})
//	err = billing.RunReport(ctx, os.Stdout, billing.ReportConfig{TotalsDir: totals, Space: did})
//	ts, err := billing.ReadTotals(ctx, billing.ReportConfig{TotalsDir: totals})
//
// # Errors
//
// Malformed messages (egress.ErrMalformed) are dead-lettered (the SQS
// dead-letter queue, else a local dead-letter.jsonl) and never stop
// RunConsume; other failures of a round are retried with backoff, and
// with Once it returns the error once the backoff reaches its ceiling.
// Config Validate methods return errors that say which field to change.
//
// # Metrics
//
// All under cargate_egress_: events_consumed_total, events_duplicate_total,
// messages_dead_lettered_total, consume_errors_total, consumer_lag_seconds.
package billing
