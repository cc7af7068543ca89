package egress

import (
	"io"
	"net"
	"sync"
	"time"
)

// halfCloseGrace is how long one direction of a tunnel may stay open after
// the other has ended.
const halfCloseGrace = 30 * time.Second

// splice copies bytes both ways until both directions end, half-closing
// each side as its source finishes, and returns the byte counts (sent =
// caller → upstream).
func splice(client, upstream net.Conn) (sent, received int64) {
	// Copy between the raw TCP connections, so that io.Copy uses the
	// kernel's splice(2) instead of copying through user space.
	client, upstream = rawConn(client), rawConn(upstream)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		received, _ = io.Copy(client, upstream)
		closeWrite(client)
		// The other direction gets a grace period, not forever.
		_ = client.SetReadDeadline(time.Now().Add(halfCloseGrace))
	}()
	sent, _ = io.Copy(upstream, client)
	closeWrite(upstream)
	_ = upstream.SetReadDeadline(time.Now().Add(halfCloseGrace))
	wg.Wait()
	return sent, received
}

func closeWrite(c net.Conn) {
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := c.(closeWriter); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}

// rawConn unwraps our connection wrappers (the max_connections slot
// holder) down to the *net.TCPConn, whose ReadFrom splices.
func rawConn(c net.Conn) net.Conn {
	for {
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return c
		}
		c = u.NetConn()
	}
}
