package config

import "flag"

// IndexerConfig configures the indexing service's sources, caches and
// HTTP client (for a gateway that uses a separate indexer).
type IndexerConfig struct {
	// URL, for `cargate gateway`, is the base URL of the indexer to ask
	// (GET /claims). Empty means an in-process indexer.
	URL string
}

// Flags registers the indexer's settings on fs.
func (c *IndexerConfig) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "indexer-url", "", "base URL of a separate indexer (ours or Storacha's) answering GET /claims; empty: in-process")
}

// Validate explains what is wrong, if anything.
func (c *IndexerConfig) Validate() error { return nil }
