//go:build unix

package names

import (
	"os"
	"syscall"
)

// lockFile waits for an exclusive lock on f, shared by every process
// writing the same store.
func lockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }
