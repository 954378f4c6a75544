// Package egress produces the egress events: one Event per response of
// content (/ipfs/, /ipns/, DNSLink sites), made by the HTTP Middleware and
// appended by the Producer to a durable local spool (package spool) on the
// request path. It also owns the event's two codecs: the compact binary
// spool record and the JSON queue message. Package ship moves spooled
// events to SQS; package billing reads them back (from the spool or SQS)
// and sums them per space per UTC day. Delivery is at least once
// everywhere; exactly-once totals come from de-duplicating by event id
// where billing writes the totals.
//
// # Usage
//
// In the gateway process:
//
//	p, err := egress.OpenProducer(egress.ProducerConfig{Dir: dataDir + "/egress-spool", Registerer: reg})
//	defer p.Close()
//	handler = egress.Middleware(handler, p, egress.WithTokenID(tokenOf))
//
// The space an event bills is decided in one place, the resolver, which
// chooses the shard each block is served from. The writer Middleware hands
// down has a RecordSpace method (it is a resolver.SpaceRecorder); the
// gateway passes it to the resolver with resolver.WithSpaceRecorder, and
// its response cache records the space it kept with an answer the same way.
// The first space recorded for a response is the one it is billed to.
//
// Reading events back (package billing):
//
//	ev, deadBody, err := egress.DecodeRecord(record) // a spool record; err wraps ErrMalformed
//	ev, err = egress.DecodeMessage(body)             // a queue message
//
// # Durability
//
// Record appends the event (in its binary form) to the spool before the
// client can have the whole response; package spool says what survives a
// crash of the process or a power loss.
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
// DecodeMessage, RecordMessage, Event.Check); billing's consumer and the
// shipper dead-letter it.
// ProducerConfig.Validate says which field to change.
//
// # Metrics
//
// All under cargate_egress_: events_produced_total, events_spooled_total,
// events_dropped_total, events_shed_total, spool_write_errors_total,
// spool_bytes, spool_events. The shipper's are package ship's, the
// consumer's package billing's.
package egress
