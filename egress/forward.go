package egress

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"
)

// forward is the state of one HTTP request between the listener's handler
// and goproxy's request and response hooks.
type forward struct {
	c      *call
	cancel context.CancelFunc
	dialed atomic.Value // string: the upstream IP of the connection used
	tlsVer string
	err    error
	begun  bool // the decision record was committed; finish must follow
}

type forwardKey struct{}

// newForwarder builds the goproxy server that carries absolute-URI and
// Host-routed requests, and CONNECT. Never goproxy's environment-proxy
// defaults: our dialer, our transports.
func (g *Gateway) newForwarder() *goproxy.ProxyHttpServer {
	p := goproxy.NewProxyHttpServer()
	p.ConnectDial, p.ConnectDialWithReq = nil, nil
	p.Tr = g.tr.plain
	p.KeepAcceptEncoding = true // don't make the transport decompress bodies
	p.Verbose = false
	p.Logger = goproxyLogger{g}
	p.NonproxyHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.badRequest(w, r, ListenerProxy, "not a proxy request: the proxy listener takes absolute-URI requests and CONNECT")
	})
	p.OnRequest().DoFunc(g.onRequest)
	p.OnResponse().DoFunc(g.onResponse)
	p.OnRequest().HandleConnectFunc(g.onConnect)
	return p
}

// serveHTTP is the handler of the proxy and http listeners.
func (g *Gateway) serveHTTP(listener string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect {
			if listener != ListenerProxy {
				g.badRequest(w, r, listener, "CONNECT is only accepted on the proxy listener")
				return
			}
			g.fwd.ServeHTTP(w, r)
			return
		}
		c, detail := g.httpCall(listener, r)
		if detail != "" {
			g.badRequest(w, r, listener, detail)
			return
		}
		if listener == ListenerHTTP {
			// Host-routed: make the request absolute for goproxy.
			r.URL.Scheme, r.URL.Host = "http", hostPort(c.host, c.port)
			if c.port == 80 {
				r.URL.Host = bracket(c.host)
			}
		}
		ctx, span := g.startSpan(r.Context(), c, r.Header, r.Method)
		f := &forward{c: c}
		r = r.WithContext(context.WithValue(ctx, forwardKey{}, f))
		cw := &countingWriter{ResponseWriter: w}
		body := &countingBody{ReadCloser: r.Body}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = body
		}
		g.fwd.ServeHTTP(cw, r)
		if f.cancel != nil {
			f.cancel()
		}
		if f.begun {
			dialed, _ := f.dialed.Load().(string)
			g.finish(r.Context(), c, cw.status, body.n, cw.n, dialed, f.tlsVer, f.err)
		}
		endSpan(span, c, cw.status, f.err)
	})
}

// httpCall builds the call of a plain HTTP request. A non-empty detail
// means the request is malformed (bad_request).
func (g *Gateway) httpCall(listener string, r *http.Request) (*call, string) {
	c := &call{listener: listener, kind: KindHTTP, start: time.Now(), method: r.Method, header: r.Header, path: r.URL.Path}
	c.id = g.ident.identify(remoteIPOf(r), r.TLS, r.Header)
	if c.path == "" {
		c.path = "/"
	}
	authority, def := r.Host, 80
	if listener == ListenerProxy {
		if !r.URL.IsAbs() {
			return c, "not a proxy request: the proxy listener takes absolute-URI requests and CONNECT"
		}
		authority = r.URL.Host
		switch strings.ToLower(r.URL.Scheme) {
		case "http":
		case "https":
			def = 443
		default:
			return c, "unsupported scheme " + strconv.Quote(r.URL.Scheme)
		}
	}
	host, port, ok := splitHostPort(authority, def)
	if !ok {
		return c, "invalid host " + strconv.Quote(authority)
	}
	c.host, c.port = host, port
	return c, ""
}

// onRequest runs the decision pipeline for an HTTP request and either
// answers the denial or prepares the upstream request.
func (g *Gateway) onRequest(r *http.Request, pctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	f, _ := r.Context().Value(forwardKey{}).(*forward)
	if f == nil {
		return r, denyResponse(r, ReasonBadRequest, "request outside the gateway's pipeline", "")
	}
	c := f.c
	ctx := r.Context()
	g.decide(ctx, c)
	if c.denied {
		g.refuse(ctx, c)
		return r, denyResponse(r, c.reason, c.detail, c.rec.ID)
	}
	if err := g.begin(ctx, c); err != nil {
		g.unrecordable(ctx, c, err)
		return r, denyResponse(r, c.reason, c.detail, "")
	}
	f.begun = true

	// The upstream request: TLS origination, the dial port, our headers.
	out := r
	stripHopByHop(out.Header)
	out.Header.Del("X-Forwarded-Client-Cert")
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = nil // don't let the transport add Go's
	}
	if h := g.cfg.Audit.RequestIDHeader; h != "" && c.rec.ID != "" {
		out.Header.Set(h, c.rec.ID)
	}
	g.injectTrace(ctx, out.Header)
	dport := c.route.Port.DialPort()
	if c.route.Entry.Name == "" { // undeclared, report mode
		dport = c.port
	}
	scheme := "http"
	if c.tlsOrig || strings.EqualFold(r.URL.Scheme, "https") {
		scheme = "https"
	}
	out.URL.Scheme = scheme
	out.URL.Host = bracket(c.host) + ":" + strconv.Itoa(dport)
	c.upScheme, c.upPort = scheme, dport
	out.Host = r.Host // the Host header stays what the caller asked for
	rctx := withPlan(ctx, c.plan())
	if d := g.cfg.Limits.RequestTimeout.D(); d > 0 {
		rctx, f.cancel = context.WithTimeout(rctx, d)
	}
	rctx = httptrace.WithClientTrace(rctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		f.dialed.Store(remoteIP(info.Conn))
	}})
	out = out.WithContext(rctx)
	tr := g.tr.plain
	switch {
	case c.tlsOrig:
		tr = g.tr.forRoute(c.route.TLS, c.route.Entry)
	case scheme == "https":
		tr = g.tr.system
	}
	pctx.RoundTripper = goproxy.RoundTripperFunc(func(req *http.Request, _ *goproxy.ProxyCtx) (*http.Response, error) {
		return tr.RoundTrip(req)
	})
	return out, nil
}

// onResponse turns a failed round trip into an explicit 502/504 and strips
// hop-by-hop headers from the upstream response.
func (g *Gateway) onResponse(resp *http.Response, pctx *goproxy.ProxyCtx) *http.Response {
	if pctx.Req == nil {
		return resp
	}
	f, _ := pctx.Req.Context().Value(forwardKey{}).(*forward)
	if f == nil || !f.begun {
		return resp
	}
	if resp == nil {
		err := pctx.Error
		if err == nil {
			err = errors.New("no response from upstream")
		}
		f.err = err
		reason := classify(err)
		return denyResponse(pctx.Req, reason, err.Error(), f.c.rec.ID)
	}
	if resp.TLS != nil {
		f.tlsVer = tls.VersionName(resp.TLS.Version)
	}
	stripHopByHop(resp.Header)
	if h := g.cfg.Audit.RequestIDHeader; h != "" && f.c.rec.ID != "" {
		resp.Header.Set(h, f.c.rec.ID)
	}
	return resp
}

// badRequest answers and records a malformed request.
func (g *Gateway) badRequest(w http.ResponseWriter, r *http.Request, listener, detail string) {
	c := &call{listener: listener, kind: KindHTTP, start: time.Now(), method: r.Method, path: r.URL.Path}
	if r.Method == http.MethodConnect {
		c.kind = KindConnect
	}
	c.host = r.Host
	c.id = g.ident.identify(remoteIPOf(r), r.TLS, r.Header)
	c.deny(ReasonBadRequest, detail)
	g.refuse(r.Context(), c)
	writeDeny(w, ReasonBadRequest, detail, c.rec.ID)
}

// remoteIPOf is the caller's IP.
func remoteIPOf(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func bracket(host string) string {
	if strings.IndexByte(host, ':') >= 0 {
		return "[" + host + "]"
	}
	return host
}

// countingWriter counts the body bytes and remembers the status sent to
// the caller. It keeps http.Hijacker and http.Flusher reachable.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// ReadFrom keeps net/http's own ReaderFrom reachable: without it io.Copy
// (goproxy copies every response body with it) allocates a 32 KiB buffer
// per response, which profiling showed as two thirds of all allocation.
func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(w.ResponseWriter, r)
	}
	w.n += n
	return n, err
}

func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack passes through for WebSocket upgrades.
func (w *countingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("hijacking not supported")
	}
	return h.Hijack()
}

// Unwrap lets http.ResponseController reach the connection (hijacking for
// WebSocket upgrades).
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts request body bytes sent upstream.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// goproxyLogger sends goproxy's own messages to slog at debug level.
type goproxyLogger struct{ g *Gateway }

func (l goproxyLogger) Printf(format string, v ...any) {
	l.g.log.Debug("goproxy", "msg", strings.TrimSpace(fmt.Sprintf(format, v...)))
}
