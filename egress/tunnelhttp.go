package egress

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"

	"github.com/sluicehq/sluice/internal/canon"
	"github.com/sluicehq/sluice/internal/vocab"
)

// tunnelHTTP serves a CONNECT to a port declared HTTP (HTTP, HTTP2, GRPC,
// GRPC-Web, HTTP_PROXY) as HTTP/1.1: a raw tunnel would carry plain
// requests that policy never sees one by one. The CONNECT itself was
// found declared; every request inside is then a call of its own —
// identified as the CONNECT's caller, pinned to the CONNECT's destination,
// decided, recorded and forwarded exactly like an absolute-URI request.
// A request whose Host names another host is refused (host_mismatch).
func (g *Gateway) tunnelHTTP(ctx context.Context, tc *call, client net.Conn) {
	if _, err := client.Write([]byte(connectEstablished)); err != nil {
		_ = client.Close()
		return
	}
	closed := make(chan struct{})
	var once sync.Once
	srv := g.httpServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		startRequest(r)
		g.serveTunnelled(w, r, tc)
	}))
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	srv.ConnState = func(nc net.Conn, s http.ConnState) {
		g.connState(nc, s)
		if s == http.StateClosed || s == http.StateHijacked {
			once.Do(func() { close(closed) })
		}
	}
	// A watchConn puts the requests net/http refuses inside the tunnel on
	// record; it also hides a *tls.Conn underneath (the requests inside
	// are not a new TLS session). goproxy hands over the listener's own.
	conn, ok := client.(*watchConn)
	if !ok {
		conn = &watchConn{Conn: client, listener: tc.Listener}
	}
	_ = srv.Serve(&oneConnListener{conn: conn, closed: closed})
	<-closed
}

// serveTunnelled handles one request read inside an HTTP tunnel.
func (g *Gateway) serveTunnelled(w http.ResponseWriter, r *http.Request, tc *call) {
	c := newCall(Request{Listener: vocab.ListenerProxy, Kind: vocab.KindHTTP, Identity: tc.Identity, Method: r.Method,
		Header: r.Header, Path: r.URL.Path, Host: tc.Host, Port: tc.Port})
	c.scheme, c.defPort = "http", 80
	if c.Path == "" {
		c.Path = "/"
	}
	host, _, err := canon.ParseAuthority(r.Host, 80)
	switch {
	case r.Method == http.MethodConnect:
		c.deny(vocab.BadRequest, "CONNECT inside a CONNECT tunnel")
	case err != nil:
		c.deny(vocab.BadRequest, err.Error())
	case host != tc.Host:
		c.deny(vocab.HostMismatch, "the request names "+host.String()+" inside a tunnel to "+tc.Host.String())
	}
	if c.Denied {
		g.refuse(r.Context(), c)
		writeDeny(w, c.Reason, c.Detail, c.rec.ID)
		return
	}
	g.forwardHTTP(w, r, c)
}

// oneConnListener hands one connection to http.Server.Serve, then blocks
// until that connection has closed.
type oneConnListener struct {
	conn   net.Conn
	once   sync.Once
	closed chan struct{}
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.conn })
	if c != nil {
		return c, nil
	}
	<-l.closed
	return nil, errors.New("tunnel closed")
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }
