package egress

import (
	"context"
	"net"
	"sync"
)

// limitListener enforces limits.max_connections across the data-plane
// listeners: over the limit a new connection is closed at once (and
// counted) rather than queued, so an overloaded gateway fails fast.
type limitListener struct {
	net.Listener
	g *Gateway
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.g.slots <- struct{}{}:
			l.g.metrics.active.Add(context.Background(), 1)
			return &limitConn{Conn: c, g: l.g}, nil
		default:
			l.g.metrics.rejected.Add(context.Background(), 1)
			_ = c.Close()
		}
	}
}

type limitConn struct {
	net.Conn
	g    *Gateway
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		<-c.g.slots
		c.g.metrics.active.Add(context.Background(), -1)
	})
	return err
}

// CloseWrite keeps half-close available through the wrapper.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
