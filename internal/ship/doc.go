// Package ship carries egress events from the local spool to SQS, at least
// once, and is the SQS client of both ends of that queue: the Shipper
// drains a spool (package spool) into a Queue, and SQSQueue sends for it
// and receives, deletes and dead-letters for the billing consumer.
//
// # Usage
//
//	q, err := ship.NewSQSQueue(ctx, ship.SQSConfig{QueueURL: url}, logger)
//	s, err := ship.NewShipper(producer, q, ship.ShipperConfig{Registerer: reg, Logger: logger})
//	go s.Run(ctx)
//
// # Delivery
//
// The spool cursor moves (durably) only after the queue acknowledged every
// event before it, so an event may be sent twice (after a crash, or when
// an SQS reply leaves an entry unaccounted) but is never lost; consumers
// drop duplicates by event id, and FIFO queues by deduplication id.
//
// # Errors
//
// ErrRejected: a Queue refuses a message for good; the shipper writes it
// to its dead-letter file (ShipperConfig.DeadLetterFile) instead of
// retrying forever. Any other send error is retried with backoff until the
// context ends. Config Validate methods say which field to change.
//
// # Metrics
//
// Under cargate_egress_: events_shipped_total, ship_failures_total,
// events_rejected_total.
package ship
