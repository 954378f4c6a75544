package config

import (
	"errors"
	"flag"
	"time"
)

// Defaults of the HTTP server limits: safe for a public deployment. A
// client must send its headers within 10 s and its whole request within
// a minute, and take each write of a response within 20 s plus one
// second per 4 KiB (a client slower than about 4 KiB/s is let go).
const (
	DefaultReadHeaderTimeout     = 10 * time.Second
	DefaultReadTimeout           = time.Minute
	DefaultIdleTimeout           = 2 * time.Minute
	DefaultWriteTimeout          = 20 * time.Second
	DefaultMinWriteRate          = 4 << 10
	DefaultMaxConcurrentRequests = 4096
	DefaultMaxHeaderBytes        = 1 << 20 // net/http's
)

// ServerConfig bounds what clients can hold of every HTTP listener
// (gateway, indexer, metrics).
type ServerConfig struct {
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request.
	IdleTimeout time.Duration
	// WriteTimeout plus len/MinWriteRate bounds each write of a response:
	// clients slower than that are disconnected.
	WriteTimeout time.Duration
	MinWriteRate int
	// MaxConnections bounds open connections per listener; beyond it new
	// ones are closed at once. 0: three quarters of the file descriptor
	// limit (RLIMIT_NOFILE), leaving the rest to files and outbound
	// connections.
	MaxConnections int
	// MaxConcurrentRequests bounds requests being served per listener;
	// beyond it they are answered 429 with Retry-After (health checks
	// are always answered).
	MaxConcurrentRequests int
	// MaxHeaderBytes bounds a request's line and headers together; larger
	// ones are refused with 431.
	MaxHeaderBytes int
}

// Flags registers the server limits (serve, gateway, indexer).
func (c *ServerConfig) Flags(fs *flag.FlagSet) {
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", DefaultReadHeaderTimeout, "longest a client may take to send a request's headers")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", DefaultReadTimeout, "longest a client may take to send a whole request, body included")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", DefaultIdleTimeout, "how long a keep-alive connection may wait for its next request")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", DefaultWriteTimeout, "longest a client may take to accept one write of a response, plus its size / --min-write-rate")
	fs.IntVar(&c.MinWriteRate, "min-write-rate", DefaultMinWriteRate, "slowest reading rate served, in bytes/s: slower clients are disconnected")
	fs.IntVar(&c.MaxConnections, "max-connections", 0, "most open connections per listener; more are closed at once (0: 3/4 of the file descriptor limit)")
	fs.IntVar(&c.MaxConcurrentRequests, "max-concurrent-requests", DefaultMaxConcurrentRequests, "most requests served at once per listener; more get 429 with Retry-After")
	fs.IntVar(&c.MaxHeaderBytes, "max-header-bytes", DefaultMaxHeaderBytes, "largest request line and headers together, in bytes; larger requests get 431")
}

// Validate explains what is wrong, if anything. Zero values stand for
// the defaults (commands that serve nothing leave them unset).
func (c *ServerConfig) Validate() error {
	if c.ReadHeaderTimeout < 0 || c.ReadTimeout < 0 || c.IdleTimeout < 0 || c.WriteTimeout < 0 ||
		c.MinWriteRate < 0 || c.MaxConnections < 0 || c.MaxConcurrentRequests < 0 || c.MaxHeaderBytes < 0 {
		return errors.New("--read-header-timeout, --read-timeout, --idle-timeout, --write-timeout, --min-write-rate, --max-connections, --max-concurrent-requests and --max-header-bytes must not be negative (0: the default)")
	}
	return nil
}

// WithDefaults returns c with each zero field set to its default
// (MaxConnections stays 0: it is derived from the descriptor limit).
func (c ServerConfig) WithDefaults() ServerConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&c.ReadTimeout, DefaultReadTimeout)
	def(&c.IdleTimeout, DefaultIdleTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	if c.MinWriteRate == 0 {
		c.MinWriteRate = DefaultMinWriteRate
	}
	if c.MaxConcurrentRequests == 0 {
		c.MaxConcurrentRequests = DefaultMaxConcurrentRequests
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	return c
}
