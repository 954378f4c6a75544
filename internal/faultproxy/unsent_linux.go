package faultproxy

import (
	"net"

	"golang.org/x/sys/unix"
)

// unsent is how many bytes written to c the peer has not acknowledged
// yet (SIOCOUTQ); 0 when it cannot tell.
func unsent(c *net.TCPConn) int {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	_ = raw.Control(func(fd uintptr) {
		n, _ = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
	})
	return n
}
