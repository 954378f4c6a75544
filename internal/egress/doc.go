// Package egress is the producer side of egress accounting: one Event per
// response of content (/ipfs/, /ipns/, DNSLink sites), written to a durable
// local spool on the request path and shipped to a queue in the background.
// Package billing (cargate egress consume / report) reads them back, through
// SpoolReader or SQSQueue.Receive, and sums them per space per UTC day.
// Delivery is at least once everywhere; exactly-once totals come from
// de-duplicating by event id where billing writes the totals.
//
// # Usage
//
// In the gateway process:
//
//	p, err := egress.OpenProducer(egress.ProducerConfig{Dir: dataDir + "/egress-spool", Registerer: reg})
//	defer p.Close()
//	handler = egress.Middleware(handler, p, egress.WithTokenID(tokenOf))
//	// With SQS configured (otherwise the spool itself is the queue):
//	q, err := egress.NewSQSQueue(ctx, egress.SQSConfig{QueueURL: url}, logger)
//	s, err := egress.NewShipper(p, q, egress.ShipperConfig{})
//	go s.Run(ctx)
//
// The space an event bills is decided in one place, the resolver, which
// chooses the shard each block is served from. The writer Middleware hands
// down has a RecordSpace method (it is a resolver.SpaceRecorder); the
// gateway passes it to the resolver with resolver.WithSpaceRecorder, and
// its response cache records the space it kept with an answer the same way.
// The first space recorded for a response is the one it is billed to.
//
// For the billing side (package billing), the shared reading API:
//
//	r, err := egress.OpenSpoolReader(dir, logger) // the spool as the queue
//	recs, err := r.Next(500)
//	ev, deadBody, err := egress.DecodeRecord(recs[0]) // err wraps ErrMalformed
//	err = r.Commit()
//	msgs, err := q.Receive(ctx, waitSeconds) // or SQS
//	ev, err = egress.DecodeMessage([]byte(msgs[0].Body))
//	err = q.Delete(ctx, msgs)
//
// # Durability
//
// Each event is one record (length, CRC-32C, the event in a compact binary
// form) copied into a memory-mapped segment before the client can have the
// whole response, with no system call, so a killed process loses nothing
// that reached the page cache. fsync (msync) is batched
// (ProducerConfig.SyncInterval / SyncEvery), so a power loss can lose at most
// that window. A torn last record is detected by length and checksum and
// skipped with a log line. The shipper moves a durable cursor only after the
// queue acknowledged everything before it, and deletes whole segments only
// behind the cursor.
//
// # Spool full
//
// When the spool reaches ProducerConfig.MaxBytes, new events are dropped:
// Record returns ErrSpoolFull, cargate_egress_events_dropped_total counts
// them and an error is logged at most every 10 seconds. Blocking instead
// would turn a queue outage into a gateway outage; serving unbilled is the
// lesser harm, and the metric tells operators exactly how much went unbilled.
// Alert on it.
//
// # Errors
//
// ErrSpoolFull: an event was dropped because the spool is full.
// ErrMalformed: a record or message cannot be counted (DecodeRecord,
// DecodeMessage, Event.Check); billing's consumer dead-letters it.
// ErrRejected: a Queue refuses a message for good; the shipper writes it to
// its dead-letter file instead of retrying forever.
// Config Validate methods return errors that say which field to change.
//
// # Metrics
//
// All under cargate_egress_ (producer and shipper): events_produced_total,
// events_spooled_total, events_dropped_total, events_shed_total,
// spool_write_errors_total, events_shipped_total, ship_failures_total,
// events_rejected_total, spool_bytes, spool_events. The consumer's are
// package billing's.
package egress
