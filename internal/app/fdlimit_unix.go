//go:build unix

package app

import "syscall"

// fdLimit is the process's file descriptor limit (Go raises the soft
// limit to the hard one at start).
func fdLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<20 {
		return 1 << 20
	}
	return int(rl.Cur)
}
