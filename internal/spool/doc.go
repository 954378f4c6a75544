// Package spool is a durable local queue of opaque records in one
// directory: a single writer appends, a single reader reads them back in
// order and commits what it has handled, and committed records are
// deleted. It survives a crash of either side; the egress producer writes
// its events here and the shipper or the spool consumer drains it.
//
// # Usage
//
//	w, err := spool.OpenWriter(spool.Config{Dir: dir})
//	err = w.Append(record) // spool.ErrFull when the spool is at MaxBytes
//	defer w.Close()
//
//	r, err := spool.OpenReader(dir, logger) // in this process or another
//	recs, err := r.Next(100)
//	err = r.Commit() // everything Next returned is handled
//
// # Format
//
// The directory holds append-only segment files named <16 hex digits>.seg,
// numbered upwards, a cursor file (the reader's committed position) and
// two lock files. Each record is
//
//	uint32 little-endian payload length | uint32 little-endian CRC-32C of payload | payload
//
// A writer only ever appends to the newest segment and starts a new one
// each time it opens the directory, so every segment but the newest is
// sealed. A zero length, or the end of the file, ends the records.
//
// # Durability
//
// A segment is preallocated and mapped shared into memory; Append copies
// the record into the mapping, its length last, with no system call. When
// Append returns, the record is in the kernel's page cache and survives a
// crash of the process (kill -9). msync is batched (group commit) in a
// background loop: it runs Config.SyncInterval after the last one, or as
// soon as Config.SyncEvery records wait, whichever comes first, and Append
// never waits for it. A power loss or kernel crash can therefore lose the
// records appended since the last msync that completed: at most
// SyncInterval plus one msync's duration of them (or SyncEvery records,
// when they come faster). Close syncs everything.
//
// A record torn by such a loss is detected by its length and checksum,
// never returned, and logged; a writer opening the directory cuts it off.
// The cursor moves by an atomic rename followed by fsync, and segments
// are deleted only when wholly behind it, so a record is returned again
// (never lost) when the reader dies before committing: delivery is at
// least once.
//
// Platforms: the above holds on Linux. On macOS and the BSDs segments are
// mapped the same way but not preallocated, so a full disk shows as a
// fault on a write to the mapping. Windows has no shared mapping here: a
// segment is a buffer written to its file at each sync, so a crash of the
// process there can lose the records of the last SyncInterval too. A
// plain append-only file (one write(2) per record) would give every
// platform the Linux guarantee, but measured at about twice the cost of
// egress accounting on the small-file benchmark (see docs/egress.md).
//
// # Errors
//
// ErrFull: Append refused a record because the spool is at MaxBytes;
// nothing was written. Config.Validate says which field to change.
// Opening a directory another process writes (or reads) fails with an
// error naming the lock.
package spool
