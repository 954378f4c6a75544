package spool

import (
	"os"

	"golang.org/x/sys/unix"
)

// preallocate reserves a segment's blocks, so that a full disk fails here
// and not as a fault on a write to the mapping.
func preallocate(f *os.File, size int64) error {
	return unix.Fallocate(int(f.Fd()), 0, 0, size)
}

// populate faults a new mapping's pages in, writable, in one system call.
// Kernels before 5.14 lack MADV_POPULATE_WRITE; the faults then stay.
func populate(m []byte) {
	_ = unix.Madvise(m, unix.MADV_POPULATE_WRITE)
}
