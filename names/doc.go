// Package names resolves mutable names, /ipns/<key> and DNSLink domains,
// to immutable /ipfs paths for the gateway.
//
// IPNS records are signed by the key the name is derived from, so they
// validate themselves: every record is checked with boxo's ipns package
// (signature, V1/V2 consistency, expiry) when it is stored and again when
// it is read, and of two valid records the one with the higher sequence
// (then the later expiry) wins. Records come from a Store of files in the
// data dir (fed by `cargate import x.ipns-record` and by the indexer's
// PUT /routing/v1/ipns/{name}) and from remote delegated routing v1
// endpoints. DNSLink names are looked up in a static map first, then, when
// allowed, as _dnslink TXT records through DNS.
//
// # Usage
//
//	store, _ := names.OpenStore(dir)
//	sys, _ := names.New(names.Config{Store: store, RoutingURLs: urls, DNSLink: static})
//	// sys.NameSystem and sys.Records go to the gateway backend.
//
// Resolutions are cached by boxo's namesys for the TTL of the record (or
// the DNS answer), at most Config.MaxCacheTTL.
//
// # Errors
//
// ErrBadRecord wraps every reason a record is refused (malformed, badly
// signed, expired, not for that name, too large); a name with no valid
// record is routing.ErrNotFound.
package names
