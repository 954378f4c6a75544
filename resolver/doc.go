// Package resolver turns CIDs into verified blocks. It asks a Locator
// (the indexer, in process or over HTTP) where a block is, reads it from
// the shard that holds it through a blobstore.URLReader, and checks it
// against its hash before anyone sees a byte.
//
// Reads are coalesced: the blocks that follow the requested one in its
// shard, when near enough (Config.MaxGap) and within Config.MaxSpan, come
// back in the same ranged read and wait in a bounded read-ahead buffer. A
// Locator answer covers a whole DAG index, so after the first block of a
// DAG the rest are located from memory. Concurrent requests for a block
// already being read wait for that read. Read-ahead happens only on
// sequential access (a block starting where its shard's last read ended),
// and when a reader takes the first read-ahead block the next span is
// fetched in the background (pipelining), all within Config.ReadAheadBytes.
//
// A read that fails part-way (reset, stall, short body) is retried from
// the first block not yet verified, with backoff and jitter; a source that
// serves a wrong block or lacks the shard is skipped for the rest of the
// read, and the next location is tried.
//
// # Errors
//
// ErrNotFound when no store holds a block; ErrUnverified when every
// replica served wrong bytes (which are never returned).
//
// # Metrics
//
// cargate_resolver_reads_total{outcome}, cargate_resolver_read_blocks_total,
// cargate_resolver_read_seconds, cargate_resolver_verification_failures_total,
// and cache hit counters for resolver_locations and resolver_blocks.
package resolver
