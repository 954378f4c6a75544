package config

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/cargate/cargate/cache"
	"github.com/cargate/cargate/indexer"
)

// Defaults of the indexer's settings.
const (
	DefaultIPNITierTimeout      = indexer.DefaultIPNITierTimeout
	DefaultRedisTTL             = cache.DefaultRedisTTL
	DefaultRedisNegativeTTL     = cache.DefaultRedisNegativeTTL
	DefaultRedisTimeout         = cache.DefaultRedisTimeout
	DefaultIndexerNegativeTTL   = indexer.DefaultNegativeTTL
	DefaultIndexerRemoteTimeout = indexer.DefaultRemoteTimeout
	DefaultIndexerClientTimeout = indexer.DefaultClientTimeout
	DefaultMaxIndexSize         = indexer.DefaultMaxIndexBytes
	DefaultIntakeMaxBody        = indexer.DefaultIntakeMaxBody
	DefaultIntakeBodyTimeout    = indexer.DefaultIntakeBodyTimeout
	DefaultIntakeConcurrency    = indexer.DefaultIntakeConcurrency
)

// IndexerConfig configures the indexing service's sources, caches and
// HTTP client (for a gateway that uses a separate indexer).
type IndexerConfig struct {
	// URL, for `cargate gateway`, is the base URL of the indexer to ask
	// (GET /claims). Empty means an in-process indexer.
	URL string
	// ClientTimeout bounds one query to the indexer at URL.
	ClientTimeout time.Duration
	// PublicURL is the base URL the indexer is reached at, advertised as
	// the provider address in IPNI and routing answers. Empty: each
	// request's Host.
	PublicURL string

	// RedisAddr is Redis's host:port (comma-separated seed nodes in
	// cluster mode). Empty: no Redis tier.
	RedisAddr string
	// RedisCluster uses Redis Cluster.
	RedisCluster bool
	// RedisTTL keeps found claims in Redis; RedisNegativeTTL keeps "none".
	RedisTTL         time.Duration
	RedisNegativeTTL time.Duration
	// RedisTimeout bounds each Redis call.
	RedisTimeout time.Duration

	// IPNIURLs lists remote IPNI find APIs: tiers separated by ";", the
	// URLs of one tier (asked at once) by ",". Empty: no IPNI source.
	IPNIURLs string
	// IPNITierTimeout bounds each tier.
	IPNITierTimeout time.Duration

	// LegacyTable is the legacy content-claims DynamoDB table; with
	// LegacyBucket (the S3 bucket of {cid}/{cid}.car) it enables the
	// legacy source.
	LegacyTable  string
	LegacyBucket string
	// DynamoDBEndpoint and S3Endpoint override AWS's endpoints (local
	// servers, R2); empty: AWS.
	DynamoDBEndpoint string
	S3Endpoint       string

	// ClaimsTable and ClaimKeysTable, when both set, keep claims in
	// DynamoDB instead of the embedded store (indexers on many machines).
	ClaimsTable    string
	ClaimKeysTable string

	// NegativeTTL is how long the in-process cache remembers "not found".
	NegativeTTL time.Duration
	// RemoteTimeout bounds each remote source lookup.
	RemoteTimeout time.Duration

	// FetchAllow lists host names, IP addresses and CIDRs (comma-separated)
	// that reads at URLs from claims may reach although they are loopback,
	// private or link-local; public addresses are always allowed.
	FetchAllow string
	// MaxIndexSize bounds an index blob read at claim intake, in bytes
	// (and the index blobs of one intake message together).
	MaxIndexSize int64
	// IntakeMaxBody bounds a POST /claims body, in bytes.
	IntakeMaxBody int64
	// IntakeBodyTimeout is how long a POST /claims body may take to arrive.
	IntakeBodyTimeout time.Duration
	// IntakeConcurrency bounds the claim messages taken in at once.
	IntakeConcurrency int
}

// FetchFlags registers the fetch policy of reads at claimed URLs, for
// every process that reads them (serve, gateway, indexer).
func (c *IndexerConfig) FetchFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.FetchAllow, "fetch-allow", "", "hosts, IPs and CIDRs (comma-separated) that reads at claimed URLs may reach although loopback/private/link-local")
}

// ClientFlags registers the settings of a gateway that asks a separate
// indexer; each is also read from its CARGATE_… variable (see EnvName).
func (c *IndexerConfig) ClientFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "indexer-url", "", "base URL of the indexer (ours or Storacha's) answering GET /claims")
	fs.DurationVar(&c.ClientTimeout, "indexer-timeout", DefaultIndexerClientTimeout, "deadline of one query to --indexer-url")
}

// Flags registers the settings of an indexer run in this process (serve,
// indexer); each is also read from its CARGATE_… variable (see EnvName).
func (c *IndexerConfig) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.PublicURL, "indexer-public-url", "", "base URL the indexer is reached at, advertised in IPNI and routing answers (default: the request's Host)")
	fs.StringVar(&c.RedisAddr, "redis-addr", "", "Redis host:port for the shared claim cache (comma-separated seeds with --redis-cluster); empty: no Redis")
	fs.BoolVar(&c.RedisCluster, "redis-cluster", false, "use Redis Cluster")
	fs.DurationVar(&c.RedisTTL, "redis-ttl", DefaultRedisTTL, "how long Redis keeps found claims")
	fs.DurationVar(&c.RedisNegativeTTL, "redis-negative-ttl", DefaultRedisNegativeTTL, "how long Redis keeps \"nothing found\"")
	fs.DurationVar(&c.RedisTimeout, "redis-timeout", DefaultRedisTimeout, "deadline of one Redis call")
	fs.StringVar(&c.IPNIURLs, "ipni-urls", "", "remote IPNI find APIs: tiers separated by ';', URLs of a tier by ','")
	fs.DurationVar(&c.IPNITierTimeout, "ipni-tier-timeout", DefaultIPNITierTimeout, "deadline of one IPNI tier")
	fs.StringVar(&c.LegacyTable, "legacy-claims-table", "", "DynamoDB table of legacy content claims (needs --legacy-claims-bucket)")
	fs.StringVar(&c.LegacyBucket, "legacy-claims-bucket", "", "S3 bucket holding legacy claims at {cid}/{cid}.car")
	fs.StringVar(&c.DynamoDBEndpoint, "dynamodb-endpoint", "", "DynamoDB endpoint URL (empty: AWS)")
	fs.StringVar(&c.S3Endpoint, "s3-endpoint", "", "S3 endpoint URL of --legacy-claims-bucket (empty: AWS)")
	fs.StringVar(&c.ClaimsTable, "claims-table", "", "DynamoDB table of claims (with --claim-keys-table: replaces the embedded claim store)")
	fs.StringVar(&c.ClaimKeysTable, "claim-keys-table", "", "DynamoDB table mapping multihashes to claims")
	fs.DurationVar(&c.NegativeTTL, "indexer-negative-ttl", DefaultIndexerNegativeTTL, "how long the in-process cache remembers \"not found\"")
	fs.DurationVar(&c.RemoteTimeout, "indexer-remote-timeout", DefaultIndexerRemoteTimeout, "deadline of one remote source lookup")
	fs.Int64Var(&c.MaxIndexSize, "max-index-size", DefaultMaxIndexSize, "largest index blob read at claim intake, in bytes")
	fs.Int64Var(&c.IntakeMaxBody, "intake-max-body", DefaultIntakeMaxBody, "largest POST /claims body, in bytes")
	fs.DurationVar(&c.IntakeBodyTimeout, "intake-body-timeout", DefaultIntakeBodyTimeout, "how long a POST /claims body may take to arrive")
	fs.IntVar(&c.IntakeConcurrency, "intake-concurrency", DefaultIntakeConcurrency, "claim messages taken in at once; more get 429")
}

// IPNITiers splits IPNIURLs into tiers.
func (c *IndexerConfig) IPNITiers() [][]string {
	var tiers [][]string
	for _, t := range strings.Split(c.IPNIURLs, ";") {
		var tier []string
		for _, u := range strings.Split(t, ",") {
			if u = strings.TrimSpace(u); u != "" {
				tier = append(tier, u)
			}
		}
		if len(tier) > 0 {
			tiers = append(tiers, tier)
		}
	}
	return tiers
}

// RedisAddrs splits RedisAddr.
func (c *IndexerConfig) RedisAddrs() []string { return splitComma(c.RedisAddr) }

// Validate explains what is wrong, if anything.
func (c *IndexerConfig) Validate() error {
	var errs []error
	checkURL := func(flag, v string) {
		if v == "" {
			return
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--%s %q: give an http(s)://host[:port] URL", flag, v))
		}
	}
	checkURL("indexer-url", c.URL)
	checkURL("indexer-public-url", c.PublicURL)
	checkURL("dynamodb-endpoint", c.DynamoDBEndpoint)
	checkURL("s3-endpoint", c.S3Endpoint)
	for _, tier := range c.IPNITiers() {
		for _, u := range tier {
			checkURL("ipni-urls", u)
		}
	}
	if (c.LegacyTable == "") != (c.LegacyBucket == "") {
		errs = append(errs, errors.New("--legacy-claims-table and --legacy-claims-bucket go together: set both or neither"))
	}
	if (c.ClaimsTable == "") != (c.ClaimKeysTable == "") {
		errs = append(errs, errors.New("--claims-table and --claim-keys-table go together: set both or neither"))
	}
	if c.MaxIndexSize < 0 || c.IntakeMaxBody < 0 || c.IntakeBodyTimeout < 0 || c.IntakeConcurrency < 0 {
		errs = append(errs, errors.New("--max-index-size, --intake-max-body, --intake-body-timeout and --intake-concurrency must not be negative (0: the default)"))
	}
	if c.RedisCluster && c.RedisAddr == "" {
		errs = append(errs, errors.New("--redis-cluster needs --redis-addr"))
	}
	return errors.Join(errs...)
}
