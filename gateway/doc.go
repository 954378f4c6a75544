// Package gateway serves content over HTTP as the IPFS HTTP gateway specs
// describe: the path gateway (/ipfs/<cid>/path, UnixFS files with Range,
// directory listings, codecs), the trustless gateway (?format=raw,
// ?format=car with dag-scope, entity-bytes, car-order, car-dups) and the
// subdomain gateway (<cid>.ipfs.<host>). The spec behaviour is boxo's
// gateway package, run over cargate's resolver, so every block it sends
// has been verified against its hash.
//
// # Errors
//
// mapError in errors.go is the one place domain errors become statuses:
// unknown content 404, bytes failing verification 502, a backend deadline
// 504, an unavailable location service 503 with Retry-After. 5xx bodies
// carry no internal detail. A read that fails after the headers are out
// aborts the connection, so no client mistakes a truncated body for a
// whole one.
//
// # Metrics
//
// boxo's gateway metrics (ipfs_http_gw_*), registered on the registry
// given to New, plus cargate_http_* from the server middleware.
package gateway
