package dnsproxy

import (
	"net"
	"sync"
	"sync/atomic"
)

// limitListener closes connections accepted beyond max open ones, so a
// flood of TCP clients cannot pin one goroutine each without bound.
type limitListener struct {
	net.Listener
	max     int64
	open    atomic.Int64
	onLimit func()
}

// Accept returns the next connection under the limit.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			_ = c.Close()
			l.onLimit()
			continue
		}
		return &limitConn{Conn: c, release: func() { l.open.Add(-1) }}, nil
	}
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its slot once.
func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
