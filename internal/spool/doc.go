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
// A record is in the kernel's page cache when Append returns, so it
// survives a crash of the process (kill -9). Syncing to the disk is
// batched: at the latest Config.SyncInterval after Append returned, or
// sooner once Config.SyncEvery records wait; a power loss or kernel crash
// can lose the records of that window. A record torn by such a loss is
// detected by its length and checksum, never returned, and logged; a
// writer opening the directory cuts it off. The cursor moves by an
// atomic rename followed by fsync, and segments are deleted only when
// wholly behind it, so a record is returned again (never lost) when the
// reader dies before committing: delivery is at least once.
//
// Windows has no shared mapping here: a segment is a buffer written to
// its file at each sync, so a crash of the process there can lose the
// records of the last SyncInterval too.
//
// # Errors
//
// ErrFull: Append refused a record because the spool is at MaxBytes;
// nothing was written. Config.Validate says which field to change.
// Opening a directory another process writes (or reads) fails with an
// error naming the lock.
package spool
