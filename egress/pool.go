package egress

import (
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/lb"
)

// The connection-level settings of a DestinationRule connectionPool:
// tcp.tcpKeepalive, tcp.maxConnectionDuration, tcp.idleTimeout,
// http.idleTimeout and http.maxRequestsPerConnection. The plan of a call
// on such a route carries its pool settings (dialPlan.pool); every
// connection dialled for it gets the keepalive, and, when its life is
// bounded, is a poolConn. HTTP requests of the route go through a
// transport of their own for those settings (poolTransport), which
// retires a connection after its last request and closes idle ones.

// wrapConn applies the plan's pool settings to a new upstream
// connection. Without settings it returns c as it is.
func (p *dialPlan) wrapConn(c net.Conn) net.Conn {
	pc := p.pool
	if pc == nil {
		return c
	}
	if pc.KeepAlive {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: pc.KeepAliveTime, Interval: pc.KeepAliveInterval, Count: pc.KeepAliveProbes})
		}
	}
	if !pc.ConnLimited() {
		return c
	}
	w := &poolConn{Conn: c, pool: pc, tunnel: p.tunnel, trackIdle: p.tunnel && pc.TCPIdleTimeout > 0}
	w.touch()
	w.mu.Lock() // the timers' callbacks read them
	if d := pc.MaxConnectionDuration; d > 0 {
		w.life = time.AfterFunc(d, w.expire)
	}
	if w.trackIdle {
		w.idle = time.AfterFunc(pc.TCPIdleTimeout, w.checkIdle)
	}
	w.mu.Unlock()
	return w
}

// poolConn is an upstream connection whose life the pool bounds: after
// maxConnectionDuration it is closed (a tunnel at once, a pooled HTTP
// connection when idle, or after the request it is carrying); after
// maxRequestsPerConnection requests it is retired; a tunnel idle for
// tcp.idleTimeout either way is closed.
type poolConn struct {
	net.Conn
	pool      *lb.PoolConfig
	tunnel    bool
	trackIdle bool // a tunnel with tcp.idleTimeout
	uses      atomic.Int64
	busy      atomic.Bool
	expired   atomic.Bool
	last      atomic.Int64 // unix nanoseconds of the last byte either way (tunnels)
	once      sync.Once
	mu        sync.Mutex // guards the timers
	life      *time.Timer
	idle      *time.Timer
}

func (w *poolConn) touch() { w.last.Store(time.Now().UnixNano()) }

func (w *poolConn) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if w.trackIdle && n > 0 {
		w.touch()
	}
	return n, err
}

func (w *poolConn) Write(p []byte) (int, error) {
	n, err := w.Conn.Write(p)
	if w.trackIdle && n > 0 {
		w.touch()
	}
	return n, err
}

// CloseWrite half-closes a tunnel's upstream (splice).
func (w *poolConn) CloseWrite() error {
	if cw, ok := w.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return w.Close()
}

func (w *poolConn) Close() error {
	var err error
	w.once.Do(func() {
		w.mu.Lock()
		if w.life != nil {
			w.life.Stop()
		}
		if w.idle != nil {
			w.idle.Stop()
		}
		w.mu.Unlock()
		err = w.Conn.Close()
	})
	return err
}

// expire is maxConnectionDuration reached: a tunnel ends; an idle pooled
// connection is closed (net/http drops it from its pool); a busy one is
// closed once its request is done.
func (w *poolConn) expire() {
	w.expired.Store(true)
	if w.tunnel || !w.busy.Load() {
		_ = w.Close()
	}
}

// checkIdle closes a tunnel that carried nothing for tcp.idleTimeout.
func (w *poolConn) checkIdle() {
	d := w.pool.TCPIdleTimeout
	if idle := time.Since(time.Unix(0, w.last.Load())); idle < d {
		w.mu.Lock()
		w.idle.Reset(d - idle)
		w.mu.Unlock()
		return
	}
	_ = w.Close()
}

// asPoolConn finds the poolConn under a connection net/http used (TLS
// originated connections wrap it).
func asPoolConn(c net.Conn) *poolConn {
	for c != nil {
		switch x := c.(type) {
		case *poolConn:
			return x
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// poolTransport carries the HTTP requests of routes with one set of
// connection-level pool settings over a transport of their own, so their
// connections are never shared with routes under other settings.
type poolTransport struct {
	tr   *http.Transport
	pool lb.PoolConfig
}

// RoundTrip sends req; the connection it gets counts one more request,
// and when that is its last (maxRequestsPerConnection) or its time is
// up (maxConnectionDuration) the request says Connection: close, so the
// upstream and net/http both close it after the response.
func (p *poolTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req
	if p.pool.MaxRequestsPerConnection > 0 || p.pool.MaxConnectionDuration > 0 {
		out = req.Clone(req.Context()) // the header may change: not the caller's map
		var pc *poolConn
		trace := &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) {
				if pc = asPoolConn(info.Conn); pc == nil {
					return
				}
				pc.busy.Store(true)
				n := pc.uses.Add(1)
				if m := p.pool.MaxRequestsPerConnection; m > 0 && n >= int64(m) || pc.expired.Load() {
					out.Header.Set("Connection", "close")
				}
			},
			PutIdleConn: func(error) {
				if pc == nil {
					return
				}
				pc.busy.Store(false)
				if pc.expired.Load() {
					_ = pc.Close()
				}
			},
		}
		out = out.WithContext(httptrace.WithClientTrace(out.Context(), trace))
	}
	return p.tr.RoundTrip(out)
}

// poolKey identifies the transport of a base transport and pool settings.
type poolKey struct {
	base *http.Transport
	pool lb.PoolConfig
}

// withPool returns the round tripper for a request on a route with the
// traffic policy cfg through base: base itself unless the policy bounds
// connections (keepalive, idle timeouts, duration, requests per
// connection), else a transport of base's kind kept for those settings.
func (t *transports) withPool(base *http.Transport, cfg *lb.Config) http.RoundTripper {
	if cfg == nil || !(cfg.Pool.ConnLimited() || cfg.Pool.KeepAlive) {
		return base
	}
	k := poolKey{base, cfg.Pool}
	k.pool.MaxConnections, k.pool.MaxPending, k.pool.MaxRetries, k.pool.ConnectTimeout = 0, 0, 0, 0 // not the connection's
	t.mu.Lock()
	defer t.mu.Unlock()
	if pt, ok := t.pools[k]; ok {
		return pt
	}
	tr := base.Clone()
	for _, d := range []time.Duration{cfg.Pool.IdleTimeout, cfg.Pool.TCPIdleTimeout} {
		if d > 0 && (tr.IdleConnTimeout <= 0 || d < tr.IdleConnTimeout) {
			tr.IdleConnTimeout = d
		}
	}
	pt := &poolTransport{tr: tr, pool: k.pool}
	if t.pools == nil {
		t.pools = map[poolKey]*poolTransport{}
	}
	t.pools[k] = pt
	return pt
}
