package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/storacha/go-ucanto/did"

	"github.com/cargate/cargate/denylist"
	"github.com/cargate/cargate/gateway"
	"github.com/cargate/cargate/internal/importer"
)

// Defaults. Those of a part's own settings are that part's exported
// defaults, so they are defined once.
const (
	DefaultDataDir          = "./cargate-data"
	DefaultListen           = "127.0.0.1:8080"
	DefaultMetricsListen    = "127.0.0.1:8081"
	DefaultShardSize        = importer.DefaultShardSize
	DefaultSubdomainHosts   = "localhost"
	DefaultHTTPFront        = "net"
	DefaultRetrievalTimeout = gateway.DefaultRetrievalTimeout
	DefaultShutdownGrace    = 20 * time.Second
	DefaultLogFormat        = "auto"
	DefaultLogLevel         = "info"
)

// Config holds every setting of every command; each command registers
// the flags it uses.
type Config struct {
	// DataDir holds embedded state: blobs, claims, keys, spool.
	DataDir string
	// Listen is the gateway's (and in serve, the indexer's) address.
	Listen string
	// MetricsListen serves /metrics and /debug/pprof; empty disables it.
	MetricsListen string
	// BlobStore is where shards and indexes are written: a directory or
	// s3://bucket/prefix?endpoint=…; empty means <DataDir>/blobs.
	BlobStore string
	// KeyFile holds the node's ed25519 key; empty means <DataDir>/key.
	KeyFile string
	// Key is the key itself, in go-ucanto's multibase text form (secret).
	Key string
	// DIDWeb, when set, is the did:web the node signs as.
	DIDWeb string
	// SubdomainHosts (comma-separated) serve <cid>.ipfs.<host> origins.
	SubdomainHosts string
	// HTTPFront is the server of the gateway's public listener:
	// "fasthttp" answers response-cache hits itself and hands every other
	// request to net/http on the same connection; "net" is net/http alone.
	HTTPFront string
	// RetrievalTimeout bounds the wait for the next block of a response.
	RetrievalTimeout time.Duration
	// ShutdownGrace bounds how long in-flight requests may finish on stop.
	ShutdownGrace time.Duration
	// ShardSize is the largest CAR shard import writes, in bytes.
	ShardSize int64
	// Space is the space DID import names in its location claims (billing:
	// egress events of bytes served from them carry it); empty names none.
	Space string
	// Quiet makes import print only root CIDs.
	Quiet bool
	// LogFormat is auto (text on a terminal, JSON otherwise), text or json.
	LogFormat string
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// Proof is a file holding the delegation that lets import's key write
	// claims to --indexer-url (made by `cargate delegate`).
	Proof string
	// Delegate configures `cargate delegate`.
	Delegate DelegateConfig
	// Indexer configures the indexing service and how gateways reach it.
	Indexer IndexerConfig
	// Egress configures egress accounting.
	Egress EgressConfig
	// Names configures IPNS and DNSLink resolution.
	Names NamesConfig
	// Denylist (comma-separated) are bad-bits list files of content the
	// gateway answers 410 Gone for and import refuses.
	Denylist string
	// DenylistPoll is how often the list files are checked for changes.
	DenylistPoll time.Duration
	// RequireServeDelegation serves content only of spaces that
	// delegated space/content/serve/* to this node.
	RequireServeDelegation bool
	// Server bounds what clients can hold of every HTTP listener.
	Server ServerConfig
	// RateLimit holds each client of the public listener to a rate.
	RateLimit RateLimitConfig
}

// EnvPrefix prefixes every environment variable.
const EnvPrefix = "CARGATE_"

// EnvName is the variable bound to a flag: --blob-store → CARGATE_BLOB_STORE.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Flags registers the named settings on fs. Known names are listed in
// docs/configuration.md.
func (c *Config) Flags(fs *flag.FlagSet, names ...string) {
	for _, n := range names {
		switch n {
		case "data-dir":
			fs.StringVar(&c.DataDir, n, DefaultDataDir, "directory for embedded state: blobs, claims, key")
		case "listen":
			fs.StringVar(&c.Listen, n, DefaultListen, "HTTP address of the gateway")
		case "metrics-listen":
			fs.StringVar(&c.MetricsListen, n, DefaultMetricsListen, "address for /metrics and /debug/pprof (empty: off)")
		case "blob-store":
			fs.StringVar(&c.BlobStore, n, "", "where shards and indexes are stored: a directory or s3://bucket/prefix?endpoint=…&region=… (default <data-dir>/blobs)")
		case "key-file":
			fs.StringVar(&c.KeyFile, n, "", "file holding the node's ed25519 key, created if missing (default <data-dir>/key)")
		case "key":
			fs.StringVar(&c.Key, n, "", "the node's ed25519 key in multibase text form (overrides --key-file; prefer the env var)")
		case "did-web":
			fs.StringVar(&c.DIDWeb, n, "", "did:web the node signs as (its key stays the did:key one)")
		case "subdomain-hosts":
			fs.StringVar(&c.SubdomainHosts, n, DefaultSubdomainHosts, "comma-separated hosts serving <cid>.ipfs.<host> origins")
		case "http-front":
			fs.StringVar(&c.HTTPFront, n, DefaultHTTPFront, "server of the gateway's listener: fasthttp (answers kept responses itself, hands the rest to net/http) or net")
		case "retrieval-timeout":
			fs.DurationVar(&c.RetrievalTimeout, n, DefaultRetrievalTimeout, "longest wait for the next block of a response")
		case "shutdown-grace":
			fs.DurationVar(&c.ShutdownGrace, n, DefaultShutdownGrace, "how long in-flight requests may finish on SIGINT/SIGTERM")
		case "shard-size":
			fs.Int64Var(&c.ShardSize, n, DefaultShardSize, "largest CAR shard written by import, in bytes")
		case "space":
			fs.StringVar(&c.Space, n, "", "space DID to name in the location claims of what is imported (egress is billed to it)")
		case "quiet":
			fs.BoolVar(&c.Quiet, n, false, "print only root CIDs, no progress")
		case "log-format":
			fs.StringVar(&c.LogFormat, n, DefaultLogFormat, "auto (text on a terminal, else JSON), text or json")
		case "log-level":
			fs.StringVar(&c.LogLevel, n, DefaultLogLevel, "debug, info, warn or error")
		case "denylist":
			fs.StringVar(&c.Denylist, n, "", "comma-separated denylists, files or http(s) URLs (bad-bits format: //sha256 lines, CIDs, /ipfs/ paths): refused content answers 410 Gone, is not imported, and claims about it are refused")
		case "require-serve-delegation":
			fs.BoolVar(&c.RequireServeDelegation, n, false, "serve content only of spaces that delegated space/content/serve/* to this node (access/delegate to POST /claims); others answer 404")
		case "denylist-poll":
			fs.DurationVar(&c.DenylistPoll, n, denylist.DefaultPoll, "how often the denylist files are checked for changes and reloaded (URLs: every 5m, conditional GET)")
		default:
			panic("config: unknown flag " + n)
		}
	}
}

// Parse parses args into fs, then fills each flag not given on the
// command line from its environment variable.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// Validate explains what is wrong, if anything.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	for name, addr := range map[string]string{"--listen": c.Listen, "--metrics-listen": c.MetricsListen} {
		if addr != "" {
			if _, _, err := net.SplitHostPort(addr); err != nil {
				errs = append(errs, fmt.Errorf("%s %q is not host:port: %w", name, addr, err))
			}
		}
	}
	if c.ShardSize != 0 && c.ShardSize < 1<<10 {
		errs = append(errs, fmt.Errorf("--shard-size %d is too small: use at least 1024 bytes", c.ShardSize))
	}
	if c.Space != "" {
		if _, err := did.Parse(c.Space); err != nil {
			errs = append(errs, fmt.Errorf("--space %q is not a DID: %w", c.Space, err))
		}
	}
	if c.DIDWeb != "" && !strings.HasPrefix(c.DIDWeb, "did:web:") {
		errs = append(errs, fmt.Errorf("--did-web %q must start with did:web:", c.DIDWeb))
	}
	switch c.HTTPFront {
	case "", "fasthttp", "net":
	default:
		errs = append(errs, fmt.Errorf("--http-front %q: use fasthttp or net", c.HTTPFront))
	}
	if c.DenylistPoll < 0 {
		errs = append(errs, errors.New("--denylist-poll must not be negative"))
	}
	switch c.LogFormat {
	case "auto", "text", "json":
	default:
		errs = append(errs, fmt.Errorf("--log-format %q: use auto, text or json", c.LogFormat))
	}
	errs = append(errs, c.Indexer.Validate(), c.Egress.Validate(), c.Names.Validate(), c.Server.Validate(), c.RateLimit.Validate())
	return errors.Join(errs...)
}

// BlobDir is the default blob directory.
func (c *Config) BlobDir() string { return filepath.Join(c.DataDir, "blobs") }

// Masked returns the config as log attributes, secrets masked.
func (c *Config) Masked() []any {
	key := ""
	if c.Key != "" {
		key = "***"
	}
	return []any{"data_dir", c.DataDir, "listen", c.Listen, "metrics_listen", c.MetricsListen,
		"blob_store", c.BlobStore, "key_file", c.KeyFile, "key", key, "did_web", c.DIDWeb,
		"subdomain_hosts", c.SubdomainHosts, "retrieval_timeout", c.RetrievalTimeout.String(),
		"shutdown_grace", c.ShutdownGrace.String(), "indexer_url", c.Indexer.URL, "egress", c.Egress.Enabled,
		"egress_sqs_queue_url", c.Egress.SQSQueueURL, "redis_addr", c.Indexer.RedisAddr,
		"rate_limit", c.RateLimit.Rate, "rate_limit_redis", c.RateLimit.Redis}
}
