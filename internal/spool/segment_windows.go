package spool

import (
	"os"

	"golang.org/x/sys/windows"
)

// On Windows a segment is a buffer in memory written to its file at each
// flush (every --egress-spool-sync-interval, and when a segment is
// sealed). Unlike the mapped segments of Linux and macOS, a crash of the
// process loses the events of the last interval.

func lockExclusive(f *os.File) error {
	var ol windows.Overlapped
	return windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
}

func preallocate(f *os.File, size int64) error { return f.Truncate(size) }

func mapSegment(_ *os.File, size int64) ([]byte, error) { return make([]byte, size), nil }

func unmapSegment([]byte) error { return nil }

func populate([]byte) {}

// flushRange writes m[from:to] to the file and syncs it.
func flushRange(f *os.File, m []byte, from, to int64) error {
	if m == nil || to <= from {
		return nil
	}
	if _, err := f.WriteAt(m[from:to], from); err != nil {
		return err
	}
	return f.Sync()
}

// syncDir does nothing: Windows has no directory fsync; NTFS journals
// the metadata of a created file.
func syncDir(string) error { return nil }
