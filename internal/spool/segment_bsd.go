//go:build unix && !linux

package spool

import "os"

// preallocate sizes the segment file. Without fallocate (macOS, the BSDs)
// the blocks are not reserved: a full disk shows as SIGBUS on a write to
// the mapping, as with any sparse mmap; keep the spool on a volume with
// room for --egress-spool-max-bytes.
func preallocate(f *os.File, size int64) error {
	return f.Truncate(size)
}

// populate does nothing here: pages fault in on first write.
func populate([]byte) {}
