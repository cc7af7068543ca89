package egress

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/canon"
	"github.com/sluicehq/sluice/internal/vocab"
)

// Go's HTTP server answers some requests itself, before any handler runs:
// a malformed request line or Host header, two Host headers, conflicting
// Content-Length, a CONNECT authority url.Parse refuses, headers over
// limits.max_header_bytes (431). Those callers still get a 4xx, and every
// refusal must be on record, so the data-plane listeners hand the server
// watchConns: a connection that remembers the first bytes of the request
// being read and notices when the server writes a response while no
// handler has started. The record says bad_request, with the status the
// server sent, its message, the source, and whatever of the target the
// request head names (run through package canon, so a host is recorded
// only in its canonical form). Identical refusals from one source are
// folded (one record, then a count per window), so a flood of malformed
// requests cannot fill the store.

// headKeep is how many bytes of a request head are kept for the record.
const headKeep = 1024

// rejectWindow is the fold window of identical refusals.
const rejectWindow = 10 * time.Second

// maxRejectKeys bounds the fold state.
const maxRejectKeys = 4096

// watchListener wraps the data-plane listeners' connections in watchConns.
type watchListener struct {
	net.Listener
	listener string
}

func (l watchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &watchConn{Conn: c, listener: l.listener}, nil
}

// watchConn is a data-plane connection as net/http sees it.
type watchConn struct {
	net.Conn
	listener string
	// pending is set when the server has read a request's bytes (the
	// Active state) and cleared when a handler starts; a response
	// written while it is set is the server's own refusal.
	pending atomic.Bool

	mu     sync.Mutex
	head   []byte // the first bytes read since the last handler started
	status int    // the status of the server's own refusal
	msg    string // ...and its message
}

func (c *watchConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if k := headKeep - len(c.head); k > 0 {
			c.head = append(c.head, p[:min(n, k)]...)
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *watchConn) Write(p []byte) (int, error) {
	if c.pending.Load() {
		c.noteRefusal(p)
	}
	return c.Conn.Write(p)
}

// CloseWrite keeps half-close reachable for tunnels.
func (c *watchConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// tlsState is the caller's TLS session on a TLS proxy listener (net/http
// sets Request.TLS only for a *tls.Conn, which this wraps).
func (c *watchConn) tlsState() *tls.ConnectionState {
	if tc, ok := c.Conn.(*tls.Conn); ok {
		st := tc.ConnectionState()
		return &st
	}
	return nil
}

// handlerStarted marks the request being read as ours.
func (c *watchConn) handlerStarted() {
	c.pending.Store(false)
	c.mu.Lock()
	c.head = c.head[:0]
	c.mu.Unlock()
}

// noteRefusal reads the status line and message net/http wrote.
func (c *watchConn) noteRefusal(p []byte) {
	line, rest, _ := bytes.Cut(p, []byte("\r\n"))
	f := strings.Fields(string(line))
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/") {
		return
	}
	code, err := strconv.Atoi(f[1])
	if err != nil {
		return
	}
	_, body, _ := bytes.Cut(rest, []byte("\r\n\r\n"))
	c.mu.Lock()
	c.status, c.msg = code, strings.TrimSpace(string(body))
	c.mu.Unlock()
}

// connState is the servers' ConnState hook.
func (g *Gateway) connState(nc net.Conn, s http.ConnState) {
	c, ok := nc.(*watchConn)
	if !ok {
		return
	}
	switch s {
	case http.StateActive:
		c.pending.Store(true)
	case http.StateClosed:
		if c.pending.Load() {
			g.serverRefused(c)
		}
	}
}

type watchConnKey struct{}

// connContext makes the watchConn reachable from a request's context.
func connContext(ctx context.Context, nc net.Conn) context.Context {
	if c, ok := nc.(*watchConn); ok {
		return context.WithValue(ctx, watchConnKey{}, c)
	}
	return ctx
}

// startRequest is the first thing every data-plane handler does: the
// request is ours, and the caller's TLS session is found.
func startRequest(r *http.Request) *tls.ConnectionState {
	c, _ := r.Context().Value(watchConnKey{}).(*watchConn)
	if c == nil {
		return r.TLS
	}
	c.handlerStarted()
	if r.TLS != nil {
		return r.TLS
	}
	return c.tlsState()
}

// refusalKey identifies identical server refusals from one source.
type refusalKey struct {
	src      netip.Addr
	listener string
	status   int
	msg      string
	method   string
	host     canon.Host
	port     int
}

// serverRefused records a request net/http refused itself.
func (g *Gateway) serverRefused(c *watchConn) {
	c.mu.Lock()
	head, status, msg := string(c.head), c.status, c.msg
	c.mu.Unlock()
	if status == 0 {
		return // nothing was answered (the caller went away mid-request)
	}
	k := refusalKey{src: addrOf(c.RemoteAddr()), listener: c.listener, status: status, msg: msg}
	target := k.readHead(head)
	if !g.refusals.Add(k, time.Now()) {
		return
	}
	detail := "refused by the HTTP server: " + msg
	if target != "" {
		detail += "; request target " + strconv.Quote(target)
	}
	g.recordRefusal(k, time.Now(), 1, detail)
}

// recordRefusal writes the record of count refusals like k.
func (g *Gateway) recordRefusal(k refusalKey, start time.Time, count int, detail string) {
	kind := vocab.KindHTTP
	if k.method == http.MethodConnect {
		kind = vocab.KindConnect
	}
	c := newCall(Request{Listener: k.listener, Kind: kind, Start: start, Method: k.method, Host: k.host, Port: k.port,
		Identity: g.ident.identify(k.src, nil, nil)})
	if detail == "" {
		detail = "refused by the HTTP server: " + k.msg
	}
	c.deny(vocab.BadRequest, detail)
	g.refuseWith(context.Background(), c, k.status, count)
}

// emitRefusals is the fold's emit: the repeats of one refusal.
func (g *Gateway) emitRefusals(k refusalKey, first, _ time.Time, count int) {
	g.recordRefusal(k, first, count, "")
}

// readHead fills k's method, host and port from a raw request head, as
// far as it names them, and returns the raw request target (truncated).
// This reads a request the server already refused, for the record only:
// it decides nothing.
func (k *refusalKey) readHead(head string) string {
	line, rest, _ := strings.Cut(head, "\r\n")
	f := strings.Fields(line)
	if len(f) == 0 {
		return ""
	}
	if len(f[0]) <= 16 && isToken(f[0]) {
		k.method = f[0]
	}
	if len(f) < 2 {
		return ""
	}
	target := f[1]
	authority, def := "", 80
	switch {
	case k.method == http.MethodConnect:
		authority, def = target, 443
	case strings.Contains(target, "://"):
		if u, err := url.Parse(target); err == nil {
			authority = u.Host
			if strings.EqualFold(u.Scheme, "https") {
				def = 443
			}
		}
	default:
		for _, h := range strings.Split(rest, "\r\n") {
			if name, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "host") {
				authority = strings.TrimSpace(v)
				break
			}
		}
	}
	if h, port, err := canon.ParseAuthority(authority, def); err == nil {
		k.host, k.port = h, port
	}
	if len(target) > 256 {
		target = target[:256]
	}
	return target
}

// isToken reports whether s is an HTTP method token.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}
