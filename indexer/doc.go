// Package indexer is cargate's indexing service: it answers which claims
// (UCAN delegations: assert/location, assert/index, assert/equals) and
// sharded DAG indexes locate a multihash, takes new claims in, and serves
// all of this over HTTP in the formats Storacha and IPNI clients speak.
//
// # Usage
//
// A Service is built over a claim store, the remote sources to ask for
// what the store does not hold, and a reader of index blobs:
//
//	svc, _ := indexer.New(id, store, []indexer.ClaimFinder{ipni, legacy}, reader, indexer.Config{}, reg, log)
//	res, err := svc.Query(ctx, indexer.Query{Hashes: []multihash.Multihash{h}})
//
// Remote sources implement ClaimFinder: NewIPNISource asks IPNI find APIs
// in tiers and fetches the claims their provider records name;
// NewLegacySource reads the legacy content-claims DynamoDB table and
// bucket. A cache tier (cache.NewRedis) wraps any of them.
//
// NewAPI serves a Service: Routes registers GET/POST /claims, GET
// /claim/{cid}, IPNI's GET /multihash/{mh} and GET /cid/{cid}, delegated
// routing v1 and the DID document on a caller's mux (beside a gateway's
// /ipfs/ in `cargate serve`); OpsRoutes adds GET /, /healthz and /readyz
// when the indexer owns its listener. docs/http-api.md describes them.
//
// POST /claims (and POST /) is the Intake, a go-ucanto server: claim/cache,
// assert/location, assert/index and assert/equals invocations on the
// service's DID, whose authority (the node's key, or a delegation chain
// from it, as Delegate makes) go-ucanto's validator checks. The claims of
// one message are checked together, index blobs fetched and every
// position bounded, and stored only if all pass; answers are receipts.
// Publish is the in-process path of the node's own importer. A location
// claim's space is trusted (Claim.SpaceTrusted) only when the node's key
// signed it or the claim carries the space's delegation to its issuer.
//
// Client asks another indexer (ours or Storacha's) over GET /claims; its
// Query has the Service's signature; Client.Publisher writes claims to it
// through claim/cache invocations. EncodeResult and DecodeResult write
// and read the query-result CAR (index/query/result@0.1).
//
// Queries answer as Storacha's indexing service (v1.13.4) does: nothing
// known is an empty result (GET /claims answers 200; Client.Query reads
// an empty result as ErrNotFound), an index contributes the locations of
// only the shards that hold the multihash, spaces filter index blob
// locations too, and standard_compressed answers one location claim for
// the block itself. An index that cannot be read or decoded is skipped
// and logged; the other indexes still answer. Claims found in remote
// sources are marked Remote, so readers can trust them least.
//
// # Errors
//
// ErrNotFound (nothing known, where an answer cannot be empty: 404),
// ErrBadInput (malformed query, result or agent message: 400),
// ErrTooLarge (a POST /claims body over its limit: 413), ErrBusy (intake
// full: 429 with Retry-After), ErrBadClaim (a claim that is malformed, unsigned, expired
// or not addressed to us: 400, nothing stored) and ErrUnavailable (every
// source that could answer failed: 503 with Retry-After). The HTTP layer
// maps them in one function (statusOf); 5xx bodies never carry internal
// error text.
//
// # Metrics
//
// The in-process caches count hits and misses in
// cargate_cache_requests_total{cache="indexer_claims"|"indexer_indexes"};
// the Redis tier counts cargate_redis_cache_lookups_total{tier,result};
// the delegated-routing server registers boxo's routing metrics on the
// registry given to NewAPI.
package indexer
