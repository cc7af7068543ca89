//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package dnsproxy

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePortSupported reports whether several UDP sockets can share the
// dns port (SO_REUSEPORT), so the kernel spreads queries across them.
const reusePortSupported = true

// reusePort is a net.ListenConfig Control function that sets SO_REUSEPORT.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}
