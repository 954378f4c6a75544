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
// read, and the next location is tried. That budget is the read's only
// one: the blob store is told (retry.CallerRetries) to make one request
// per attempt rather than retry on its own.
//
// Nothing a Locator says is trusted: its positions come from claims that
// anyone holding a delegation, an IPNI node or a legacy table wrote. A
// position is bounded before it sizes anything (length at most
// MaxBlockSize, offset below 1 PiB; others are dropped). A block keeps up
// to MaxCandidates places, in the Locator's order of trust; a place that
// fails (wrong bytes, short, refused) is evicted for that block, put last
// for a while, and the next place is tried; when the places came with a
// neighbour's answer, the block is located on its own once more. Every
// goroutine the resolver starts (reads, pipelined reads, hashing) and the
// Locator call recover from panics: a panic fails one read, never the
// process.
//
// # Errors
//
// ErrNotFound when no store holds a block (or no usable place is known);
// ErrUnverified when every place served wrong bytes (which are never
// returned). Other failures (a refused range, a recovered panic) are
// plain errors: the gateway answers 502.
//
// # Metrics
//
// cargate_resolver_reads_total{outcome}, cargate_resolver_read_blocks_total,
// cargate_resolver_read_seconds, cargate_resolver_verification_failures_total,
// cargate_resolver_position_failures_total{reason},
// cargate_resolver_recovered_panics_total, and cache hit counters for
// resolver_locations and resolver_blocks.
package resolver
