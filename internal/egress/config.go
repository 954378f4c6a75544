package egress

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/internal/spool"
)

// rateLogEvery is the shortest gap between two log lines about dropped or
// shed events.
const rateLogEvery = 10 * time.Second

// ProducerConfig configures the durable local spool written on the request
// path. The zero values of the spool's fields take package spool's defaults.
type ProducerConfig struct {
	// Dir holds the spool segments, the reader cursor and the lock files.
	// It must be on a local file system. Required.
	Dir string
	// MaxBytes bounds the spool on disk. When it is full new events are
	// dropped and counted (see doc.go "Spool full"). Default spool.DefaultMaxBytes.
	MaxBytes int64
	// SegmentBytes is the size at which the active segment is sealed and a
	// new one started; shipped segments are deleted whole. Default spool.DefaultSegmentBytes.
	SegmentBytes int64
	// SyncInterval is the longest an event stays written but not fsynced.
	// Default spool.DefaultSyncInterval.
	SyncInterval time.Duration
	// SyncEvery triggers an fsync as soon as this many events are unsynced.
	// Default spool.DefaultSyncEvery.
	SyncEvery int
	// Registerer receives the producer metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger receives operational log lines; nil means slog.Default().
	Logger *slog.Logger
}

func (c *ProducerConfig) withDefaults() ProducerConfig {
	out := *c
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	return out
}

// spool is the spool's part of c.
func (c *ProducerConfig) spool() spool.Config {
	return spool.Config{Dir: c.Dir, MaxBytes: c.MaxBytes, SegmentBytes: c.SegmentBytes,
		SyncInterval: c.SyncInterval, SyncEvery: c.SyncEvery, Logger: c.Logger}
}

// Validate explains what is wrong with c, if anything.
func (c *ProducerConfig) Validate() error {
	sc := c.spool()
	return sc.Validate()
}
