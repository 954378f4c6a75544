// Package blobstore keeps and reads blobs: the CAR shards and index blobs
// that the gateway serves, addressed by content (see Key for the layout).
//
// Three backends implement Store: Dir (a local directory, the embedded
// default), S3 (any S3 API: AWS, R2, versitygw, MinIO) and, for reading
// only, HTTP (any HTTP(S) URL that honours Range, through the URLReader
// interface). Location claims carry URLs; a Router sends a URL under one of
// its stores' base URLs (Store.URL("")) to that store, so reads of our own
// buckets are signed requests, and any other URL to the HTTP reader.
//
// Every read returns exactly the bytes asked for or ends in an error: a body
// that stops early ends in io.ErrUnexpectedEOF (or the transport's error),
// never in a clean io.EOF. Checking those bytes against their hashes is the
// resolver's job, not this package's.
//
// # Usage
//
//	store, err := blobstore.Open(ctx, "s3://shards/carpark?endpoint=http://127.0.0.1:7070")
//	store = blobstore.Instrument(store, "s3", reg)
//	err = store.Put(ctx, blobstore.Key(digest), r, size)
//
//	httpReader := blobstore.NewHTTP(blobstore.HTTPConfig{}, reg)
//	router := blobstore.NewRouter(httpReader, store)
//	body, err := router.ReadURL(ctx, locationURL, off, length)
//	defer body.Close()
//
// Open accepts a directory path, file:///path, or
// s3://bucket[/prefix]?endpoint=…&region=…&path-style=…&public-url=… .
// S3 credentials come from the AWS environment and credential chain (or
// S3Config's static keys), never from the spec. A custom endpoint implies
// path-style addressing; set region "auto" for R2. The SDK's own HTTP client
// is kept (so AWS_CA_BUNDLE and proxies work) with a wider idle pool.
//
// A read whose context is marked by retry.CallerRetries (the resolver's,
// which retries under its own budget) makes one request, S3 and HTTP
// alike; an HTTP error then carries the server's Retry-After (retry.After).
// Otherwise the HTTP reader retries 5xx, 429 (honouring Retry-After up to BackoffMax)
// and connection errors with exponential backoff and full jitter, but only
// before the body is handed to the caller; after that an error is returned
// and the caller decides. It accepts 206 with a Content-Range starting at the
// requested offset, or 200 when the server ignores Range: then up to MaxSkip
// leading bytes are discarded to reach the offset (beyond MaxSkip the read
// fails instead of downloading the blob's head), and the body is limited to
// the range. Responses are never transparently decompressed. A body read
// that makes no progress for StallTimeout fails with ErrStalled; a caller
// that is slow to read is not counted as a stall.
// S3 reads apply the same rule (S3Config.StallTimeout).
//
// # Errors
//
// ErrNotFound (test with errors.Is) means the blob is not held, or the range
// asked for does not lie wholly inside it: HTTP 404, 410 and 416, S3
// NoSuchKey and InvalidRange, and a partial range that reaches past the end.
// These are final and never retried. ErrStalled marks a stalled body. Other
// errors (bad status, transport failures, io.ErrUnexpectedEOF for a short
// body) carry the URL or key in their text.
//
// # Metrics
//
// Metrics are registered on the prometheus.Registerer given to NewHTTP or
// Instrument (never the global one); several stores may share a registry.
// All carry a backend label ("http", "s3", "dir"):
//
//	cargate_blobstore_requests_total{backend,op,outcome}  op: read, put, stat; outcome: ok, not_found, canceled, error
//	cargate_blobstore_request_duration_seconds{backend,op} time until the call returned (for reads: body ready)
//	cargate_blobstore_read_bytes_total{backend}            bytes delivered to callers
//	cargate_blobstore_errors_total{backend,stage}          stage: open (before the body) or body (while streaming)
//	cargate_blobstore_retries_total{backend}               HTTP requests retried
package blobstore
