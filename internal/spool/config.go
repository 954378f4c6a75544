package spool

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults used when a Config field is left at its zero value.
const (
	DefaultMaxBytes     = 1 << 30     // 1 GiB of unread records
	DefaultSegmentBytes = 16 << 20    // 16 MiB per segment file
	DefaultSyncInterval = time.Second // longest a record waits for fsync
	DefaultSyncEvery    = 10000       // fsync early after this many records
	// MinSegmentBytes is the smallest SegmentBytes accepted.
	MinSegmentBytes = 64 << 10
	// MaxRecordBytes is the largest record Append accepts.
	MaxRecordBytes = 1 << 20
)

// Config configures a Writer.
type Config struct {
	// Dir holds the segments, the reader's cursor and the lock files. It
	// must be on a local file system. Required.
	Dir string
	// MaxBytes bounds the segments on disk; past it Append returns
	// ErrFull. Default DefaultMaxBytes.
	MaxBytes int64
	// SegmentBytes is the size at which the active segment is sealed and
	// a new one started; committed segments are deleted whole. Default
	// DefaultSegmentBytes.
	SegmentBytes int64
	// SyncInterval is the longest a record stays appended but not synced
	// to disk. Default DefaultSyncInterval.
	SyncInterval time.Duration
	// SyncEvery starts a sync as soon as this many records are unsynced.
	// Default DefaultSyncEvery.
	SyncEvery int
	// Logger receives torn records found and sync failures; nil means
	// slog.Default().
	Logger *slog.Logger
}

func (c *Config) withDefaults() Config {
	out := *c
	out.MaxBytes = cmp.Or(out.MaxBytes, DefaultMaxBytes)
	out.SegmentBytes = cmp.Or(out.SegmentBytes, DefaultSegmentBytes)
	out.SyncInterval = cmp.Or(out.SyncInterval, DefaultSyncInterval)
	out.SyncEvery = cmp.Or(out.SyncEvery, DefaultSyncEvery)
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	return out
}

// Validate explains what is wrong with c, if anything.
func (c *Config) Validate() error {
	d := c.withDefaults()
	var errs []error
	if d.Dir == "" {
		errs = append(errs, errors.New("spool: Dir is empty; set it to a local directory, e.g. <data dir>/egress-spool"))
	}
	if d.SegmentBytes < MinSegmentBytes {
		errs = append(errs, fmt.Errorf("spool: SegmentBytes %d is below the minimum %d", d.SegmentBytes, MinSegmentBytes))
	}
	if d.MaxBytes < 2*d.SegmentBytes {
		errs = append(errs, fmt.Errorf("spool: MaxBytes %d must be at least twice SegmentBytes (%d) so a segment can be read while the next fills", d.MaxBytes, d.SegmentBytes))
	}
	if d.SyncInterval < 0 || d.SyncEvery < 0 {
		errs = append(errs, errors.New("spool: SyncInterval and SyncEvery must not be negative"))
	}
	return errors.Join(errs...)
}
