//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package dnsproxy

import "syscall"

// reusePortSupported is false: one UDP socket serves the dns port.
const reusePortSupported = false

func reusePort(_, _ string, _ syscall.RawConn) error { return nil }
