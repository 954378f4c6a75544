// Package gateway serves content over HTTP as the IPFS HTTP gateway specs
// describe: the path gateway (/ipfs/<cid>/path, UnixFS files with Range,
// directory listings, codecs), the trustless gateway (?format=raw,
// ?format=car with dag-scope, entity-bytes, car-order, car-dups) and the
// subdomain gateway (<cid>.ipfs.<host>), and, given a name system, IPNS
// and DNSLink names (/ipns/<name>, <name>.ipns.<host>, DNSLink hosts).
// The spec behaviour is boxo's gateway package, run over cargate's
// resolver, so every block it sends has been verified against its hash.
// Every answer carries the spec's CORS headers (WithCORS); WithTunnel
// answers HTTP CONNECT for clients that use the gateway as a proxy.
//
// The caches in front of boxo keep only answers marked immutable (and
// 404s, briefly): /ipns/ answers are mutable and always resolved anew
// (the name system caches resolutions for their TTL).
//
// # Errors
//
// mapError in errors.go is the one place domain errors of content become
// statuses (names.go gives name failures theirs: a domain without
// DNSLink 404, an IPNS name without a valid record 502, where boxo would
// answer 500 for both):
// unknown content 404, bytes failing verification 502, a backend deadline
// 504, an unavailable location service 503 with Retry-After, a block the
// IPLD decoders refuse (too deep, too many elements) 422 (mapContentError,
// for boxo's own decoding). 5xx bodies carry no internal detail. A read
// that fails after the headers are out aborts the connection, so no
// client mistakes a truncated body for a whole one; boxo's CARs are read
// ahead through their first block, so a root that fails is a status.
//
// # Metrics
//
// boxo's gateway metrics (ipfs_http_gw_*), registered on the registry
// given to New, plus cargate_http_* from the server middleware.
package gateway
