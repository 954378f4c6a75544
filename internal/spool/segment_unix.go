//go:build unix

package spool

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// lockExclusive takes an advisory lock the kernel drops when the process
// dies.
func lockExclusive(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// mapSegment maps a segment file shared: its pages are the page cache's,
// so a record copied in survives a crash of the process.
func mapSegment(f *os.File, size int64) ([]byte, error) {
	return unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

func unmapSegment(m []byte) error {
	if m == nil {
		return nil
	}
	return unix.Munmap(m)
}

// flushRange makes m[from:to] durable, from the page that holds from: only
// the records appended since the last flush, so the kernel does not walk
// the pages of the whole segment every time.
func flushRange(_ *os.File, m []byte, from, to int64) error {
	if m == nil || to <= from {
		return nil
	}
	page := int64(os.Getpagesize())
	return unix.Msync(m[from/page*page:to], unix.MS_SYNC)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
