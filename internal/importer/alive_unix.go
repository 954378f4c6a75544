//go:build unix

package importer

import (
	"errors"
	"os"
	"syscall"
)

// processAlive reports whether pid names a running process (one we may
// not signal is running too).
func processAlive(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
