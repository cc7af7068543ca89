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

	"github.com/elazarl/goproxy"
	"github.com/sluicehq/sluice/internal/canon"
	"github.com/sluicehq/sluice/internal/vocab"
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
	body   *countingBody
	lb     balanced // the endpoint and pool place of a traffic policy
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
		g.badRequest(w, r, vocab.ListenerProxy, "not a proxy request: the proxy listener takes absolute-URI requests and CONNECT")
	})
	p.OnRequest().DoFunc(g.onRequest)
	p.OnResponse().DoFunc(g.onResponse)
	p.OnRequest().HandleConnectFunc(g.onConnect)
	return p
}

// serveHTTP is the handler of the proxy and http listeners.
func (g *Gateway) serveHTTP(listener string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.TLS = startRequest(r)
		if r.Method == http.MethodConnect {
			if listener != vocab.ListenerProxy {
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
		g.forwardHTTP(w, r, c)
	})
}

// forwardHTTP carries one plain HTTP request whose call was built at the
// edge: the decision, the record and the round trip upstream.
func (g *Gateway) forwardHTTP(w http.ResponseWriter, r *http.Request, c *call) {
	// goproxy takes absolute requests: the canonical destination, whatever
	// form the caller wrote it in.
	r.URL.Scheme, r.URL.Host = c.scheme, c.authority()
	ctx, span := g.startSpan(r.Context(), c, r.Header, r.Method)
	f := &forward{c: c}
	r = r.WithContext(context.WithValue(ctx, forwardKey{}, f))
	cw := &countingWriter{ResponseWriter: w}
	if r.Body != nil && r.Body != http.NoBody {
		f.body = g.newBody(w, r.Body)
		r.Body = f.body
	}
	g.fwd.ServeHTTP(cw, r)
	g.complete(r.Context(), f, cw.status, cw.n)
	endSpan(span, c, cw.status, f.failure())
}

// complete ends an HTTP request's exchange: the balancer's and timers'
// holds are released and, when its record was begun, the record is
// finished with the status and body bytes the caller got.
func (g *Gateway) complete(ctx context.Context, f *forward, status int, received int64) {
	c := f.c
	f.lb.end(status, f.err)
	if f.cancel != nil {
		f.cancel()
	}
	if !f.begun {
		return
	}
	if f.lb.rule != nil {
		c.rec.Route, c.rec.Subset, c.rec.Attempts = f.lb.rule.Name, f.lb.dest.Subset, f.lb.attempts
	}
	dialed, _ := f.dialed.Load().(string)
	if f.failure() != nil {
		received = 0 // the body was the gateway's own error, not the upstream's
	}
	g.finish(ctx, c, status, f.body.count(), received, dialed, f.tlsVer, f.failure())
}

// failure is why the exchange failed: the caller's body first (it was too
// slow), else the round trip's error.
func (f *forward) failure() error {
	if f.body != nil && f.body.err != nil {
		return f.body.err
	}
	return f.err
}

// httpCall builds the call of a plain HTTP request: the destination is
// parsed once, here, into its canonical form (package canon). A non-empty
// detail means the request is malformed (bad_request).
func (g *Gateway) httpCall(listener string, r *http.Request) (*call, string) {
	c := newCall(Request{Listener: listener, Kind: vocab.KindHTTP, Method: r.Method, Header: r.Header, Path: r.URL.Path,
		Identity: g.ident.identify(remoteIPOf(r), r.TLS, r.Header)})
	c.scheme = "http"
	if c.Path == "" {
		c.Path = "/"
	}
	authority, def := r.Host, 80
	if listener == vocab.ListenerProxy {
		if !r.URL.IsAbs() {
			return c, "not a proxy request: the proxy listener takes absolute-URI requests and CONNECT"
		}
		authority = r.URL.Host
		switch strings.ToLower(r.URL.Scheme) {
		case "http":
		case "https":
			c.scheme, def = "https", 443
		default:
			return c, "unsupported scheme " + strconv.Quote(r.URL.Scheme)
		}
	}
	host, port, err := canon.ParseAuthority(authority, def)
	if err != nil {
		return c, err.Error()
	}
	c.Host, c.Port, c.defPort = host, port, def
	return c, ""
}

// onRequest is goproxy's request hook: the decision pipeline (prepare),
// then either the denial or the round trip it chose.
func (g *Gateway) onRequest(r *http.Request, pctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	f, _ := r.Context().Value(forwardKey{}).(*forward)
	if f == nil {
		return r, denyResponse(r, vocab.BadRequest, "request outside the gateway's pipeline", "")
	}
	out, deny, rt := g.prepare(r, f)
	if deny != nil {
		return r, deny
	}
	pctx.RoundTripper = goproxy.RoundTripperFunc(func(req *http.Request, _ *goproxy.ProxyCtx) (*http.Response, error) {
		return rt.RoundTrip(req)
	})
	return out, nil
}

// prepare runs the decision pipeline for an HTTP request: it returns
// either the denial to answer, or the upstream request and the round
// tripper that carries it (the VirtualService's retries included).
func (g *Gateway) prepare(r *http.Request, f *forward) (*http.Request, *http.Response, http.RoundTripper) {
	c := f.c
	ctx := r.Context()
	g.decide(ctx, c)
	if !c.Denied {
		g.resolve(ctx, c)
	}
	if !c.Denied && !g.selectRoute(c, r, &f.lb) {
		c.deny(vocab.NoRoute, noHTTPRoute(c))
	}
	if c.Denied {
		g.refuse(ctx, c)
		return nil, denyResponse(r, c.Reason, c.Detail, c.rec.ID), nil
	}
	if err := g.begin(ctx, c); err != nil {
		g.unrecordable(ctx, c, err)
		return nil, denyResponse(r, c.Reason, c.Detail, ""), nil
	}
	f.begun = true
	if c.planErr != nil {
		f.err = c.planErr
		return nil, denyResponse(r, classify(c.planErr), c.planErr.Error(), c.rec.ID), nil
	}
	if err := g.route(c, r, &f.lb); err != nil {
		f.err = err
		return nil, denyResponse(r, classify(err), err.Error(), c.rec.ID), nil
	}
	if err := g.balance(ctx, c, r, &f.lb); err != nil {
		f.err = err
		return nil, denyResponse(r, classify(err), err.Error(), c.rec.ID), nil
	}
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
	dport := c.Route.Port.DialPort()
	if c.Route.Entry.Name == "" { // undeclared, report mode
		dport = c.Port
	}
	scheme := c.scheme
	if c.TLSOrigination {
		scheme = "https"
	}
	out.URL.Scheme = scheme
	out.URL.Host = hostPort(c.Host, dport)
	if f.lb.cluster != nil && scheme == "http" && c.plan.addrs[0].network == "tcp" {
		// Plain HTTP is pooled by the endpoint chosen, not by the
		// destination's name, so that every request is balanced.
		out.URL.Host = c.plan.addrs[0].addr
	}
	c.upScheme, c.upPort = scheme, dport
	// The Host header names the canonical destination, as the caller's
	// scheme would write it: upstream sees the host policy decided on.
	out.Host = c.authority()
	rctx := withPlan(ctx, c.plan)
	if d := g.cfg.Limits.RequestTimeout.D(); d > 0 {
		rctx, f.cancel = context.WithTimeout(rctx, d)
	}
	if f.lb.rule != nil && f.lb.rule.Timeout > 0 {
		// The VirtualService timeout: the whole exchange, retries included.
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(rctx, f.lb.rule.Timeout)
		f.lb.cancels = append(f.lb.cancels, cancel)
	}
	rctx = httptrace.WithClientTrace(rctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		f.dialed.Store(remoteIP(info.Conn))
	}})
	out = out.WithContext(rctx)
	tr := g.tr.plain
	switch {
	case c.TLSOrigination:
		tr = g.tr.forRoute(c.Route.TLS, c.Route.Entry)
	case scheme == "https":
		tr = g.tr.system
	}
	rt := g.tr.withPool(tr, f.lb.cfg) // tr, unless the route's connectionPool bounds connections (pool.go)
	if rt == http.RoundTripper(g.tr.plain) && h1Eligible(out, scheme) {
		rt = g.tr.h1
	}
	if f.lb.rule != nil {
		return out, nil, routedTripper{g: g, tr: rt, c: c, f: f}
	}
	return out, nil, rt
}

// routedTripper carries a request routed by a VirtualService rule
// (Gateway.roundTrip: per-try timeouts, retries).
type routedTripper struct {
	g  *Gateway
	tr http.RoundTripper
	c  *call
	f  *forward
}

func (t routedTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.g.roundTrip(t.tr, req, t.c, t.f)
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
	return g.upstreamResponse(f, pctx.Req, resp, pctx.Error)
}

// upstreamResponse is what the caller gets for a round trip: a failed one
// becomes an explicit 502/504 naming the failure; an upstream response
// loses its hop-by-hop headers and gains the record's id.
func (g *Gateway) upstreamResponse(f *forward, req *http.Request, resp *http.Response, err error) *http.Response {
	if resp == nil {
		f.err = err
		if f.err == nil {
			f.err = errors.New("no response from upstream")
		}
		err := f.failure() // a too-slow request body, else the round trip's error
		return denyResponse(req, classify(err), err.Error(), f.c.rec.ID)
	}
	if resp.TLS != nil {
		f.tlsVer = tls.VersionName(resp.TLS.Version)
	}
	stripHopByHop(resp.Header)
	if h := g.cfg.Audit.RequestIDHeader; h != "" && f.c.rec.ID != "" {
		resp.Header.Set(h, f.c.rec.ID)
	}
	if f.lb.setCookie != "" { // a consistent-hash cookie generated for this caller
		resp.Header.Add("Set-Cookie", f.lb.setCookie)
	}
	return resp
}

// badRequest answers and records a malformed request. Its destination is
// recorded only when it parses; the detail quotes what the caller sent.
func (g *Gateway) badRequest(w http.ResponseWriter, r *http.Request, listener, detail string) {
	c := newCall(Request{Listener: listener, Kind: vocab.KindHTTP, Method: r.Method, Path: r.URL.Path,
		Identity: g.ident.identify(remoteIPOf(r), r.TLS, r.Header)})
	if r.Method == http.MethodConnect {
		c.Kind = vocab.KindConnect
	}
	if h, port, err := canon.ParseAuthority(r.Host, 80); err == nil {
		c.Host, c.Port = h, port
	}
	c.deny(vocab.BadRequest, detail)
	g.refuse(r.Context(), c)
	writeDeny(w, vocab.BadRequest, detail, c.rec.ID)
}

// remoteIPOf is the caller's IP.
func remoteIPOf(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
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

// goproxyLogger sends goproxy's own messages to slog at debug level.
type goproxyLogger struct{ g *Gateway }

func (l goproxyLogger) Printf(format string, v ...any) {
	l.g.log.Debug("goproxy", "msg", strings.TrimSpace(fmt.Sprintf(format, v...)))
}
