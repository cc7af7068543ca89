package egress

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/elazarl/goproxy"
	"github.com/sluicehq/sluice/internal/canon"
	"github.com/sluicehq/sluice/internal/vocab"
	"github.com/sluicehq/sluice/registry"
	"go.opentelemetry.io/otel/trace"
)

// connectCall is a decided CONNECT: its call, span and context, and
// either the denial to answer or the tunnel to serve. decideConnect makes
// it for both edges that read CONNECT: the lean loop (lean_connect.go)
// and goproxy (onConnect), so a CONNECT means one thing whichever serves
// it.
type connectCall struct {
	c    *call
	ctx  context.Context // the tunnel's: not cancelled when the request ends
	span trace.Span
	// deny, when set, is the answer: a 4xx/5xx with the reason, written
	// before any tunnel exists; the connection then closes.
	deny *http.Response
	// http: the port is declared HTTP; the tunnel is served as HTTP.
	http bool
}

// decideConnect decides a CONNECT to authority, from the caller at ip,
// before any tunnel exists: a denial is a 403 (404, ...) with the reason,
// never a silent close. Where the tunnel may go is resolved and checked
// here too, so a forbidden address is refused before the 200.
func (g *Gateway) decideConnect(ctx context.Context, r *http.Request, ip netip.Addr, authority string) *connectCall {
	c := newCall(Request{Listener: vocab.ListenerProxy, Kind: vocab.KindConnect, Method: http.MethodConnect, Header: r.Header,
		Identity: g.ident.identify(ip, r.TLS, r.Header)})
	ctx, span := g.startSpan(ctx, c, r.Header, "CONNECT")
	cc := &connectCall{c: c, ctx: context.WithoutCancel(ctx), span: span}
	reject := func() *connectCall {
		id := ""
		if c.rec != nil {
			id = c.rec.ID
		}
		cc.deny = denyResponse(r, c.Reason, c.Detail, id)
		return cc
	}
	host, port, err := canon.ParseAuthority(authority, 443)
	if err != nil {
		c.deny(vocab.BadRequest, "invalid CONNECT authority: "+err.Error())
		g.refuse(ctx, c)
		return reject()
	}
	c.Host, c.Port = host, port
	route, res := g.reg.Snapshot().Lookup(host, port)
	declared := res == registry.Declared
	if declared && route.Port.Protocol.IsHTTP() {
		// A port declared HTTP carries plain requests: serve the tunnel as
		// HTTP so that policy decides, and the record shows, each one.
		cc.http = true
		return cc
	}
	if declared && passthroughTLS(route) && !host.IsIP() {
		c.SNI = host.String() // any other SNI will be refused as sni_mismatch
	}
	g.decide(ctx, c)
	if !c.Denied {
		g.resolve(ctx, c)
	}
	if !c.Denied && !g.routeL4(c) {
		c.deny(vocab.NoRoute, noL4Route(c))
	}
	if c.Denied {
		g.refuse(ctx, c)
		return reject()
	}
	if g.aud.OnFailureDeny() {
		if err := g.aud.Ready(); err != nil {
			g.unrecordable(ctx, c, err)
			return reject()
		}
	}
	return cc
}

// serveConnect serves an allowed CONNECT on client, the caller's
// connection positioned after the CONNECT head (the caller tracks it for
// shutdown), closes it and ends the span.
func (g *Gateway) serveConnect(cc *connectCall, client net.Conn) {
	if cc.http {
		g.tunnelHTTP(cc.ctx, cc.c, client)
		endSpan(cc.span, cc.c, http.StatusOK, nil)
		return
	}
	status, err := g.tunnel(cc.ctx, cc.c, client)
	endSpan(cc.span, cc.c, status, err)
}

// onConnect is goproxy's CONNECT hook, for the CONNECTs the lean loop
// hands over (HTTP/1.0, a body, a TLS proxy listener ...): the same
// decision, goproxy writes the denial or hijacks the connection.
func (g *Gateway) onConnect(authority string, pctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
	cc := g.decideConnect(pctx.Req.Context(), pctx.Req, remoteIPOf(pctx.Req), authority)
	if cc.deny != nil {
		pctx.Resp = cc.deny
		endSpan(cc.span, cc.c, cc.deny.StatusCode, nil)
		return goproxy.RejectConnect, authority
	}
	return &goproxy.ConnectAction{Action: goproxy.ConnectHijack, Hijack: func(_ *http.Request, client net.Conn, _ *goproxy.ProxyCtx) {
		done := g.trackConn(client) // net/http forgets a hijacked connection
		defer done()
		g.serveConnect(cc, client)
	}}, authority
}

// connectEstablished answers an allowed CONNECT.
const connectEstablished = "HTTP/1.1 200 Connection established\r\n\r\n"

// passthroughTLS reports whether CONNECTs to the route carry TLS whose
// ClientHello must name the destination (HTTPS and TLS ports).
func passthroughTLS(r *registry.Route) bool { return r.Port.Protocol.IsTLS() }

// tunnel runs an allowed CONNECT on the client connection and returns
// the status it answered and the error that ended it, if any.
func (g *Gateway) tunnel(ctx context.Context, c *call, client net.Conn) (int, error) {
	defer client.Close()
	if passthroughTLS(c.Route) {
		// TLS port: answer 200, then read the ClientHello before dialling.
		// The 200 is written from the hello's buffer, free until the
		// hello is read (a []byte of a constant would be allocated).
		hb := g.bufs.getHello()
		defer g.bufs.putHello(hb)
		if _, err := client.Write(append((*hb)[:0], connectEstablished...)); err != nil {
			return 0, err
		}
		sni, hello, err := readClientHello(client, g.cfg.Limits.HeaderTimeout.D(), *hb)
		name, reason, detail := sniCheck(c.Host, sni, err)
		c.SNI = name.String()
		if reason != "" {
			c.deny(reason, detail)
			g.refuse(ctx, c)
			return http.StatusOK, nil
		}
		return g.passthrough(ctx, c, client, hello)
	}
	// TCP (and other) ports: record, dial, then answer 200 or the failure.
	c.SNI = ""
	if err := g.begin(ctx, c); err != nil {
		g.unrecordable(ctx, c, err)
		resp := denyResponse(nil, c.Reason, c.Detail, "")
		writeResponse(client, resp)
		return resp.StatusCode, nil
	}
	up, err := g.dial(ctx, c)
	if err != nil {
		reason := classify(err)
		g.finish(ctx, c, reason.Status(), 0, 0, "", "", err)
		writeResponse(client, denyResponse(nil, reason, err.Error(), c.rec.ID))
		return reason.Status(), err
	}
	defer up.Close()
	if _, err := client.Write([]byte(connectEstablished)); err != nil {
		g.finish(ctx, c, 0, 0, 0, remoteIP(up), "", err)
		return 0, err
	}
	sent, received := g.splice(client, up)
	g.finish(ctx, c, http.StatusOK, sent, received, remoteIP(up), "", nil)
	return http.StatusOK, nil
}

// dial connects an allowed, recorded call to its checked addresses, or
// returns why it could not (planErr: nothing to dial).
func (g *Gateway) dial(ctx context.Context, c *call) (net.Conn, error) {
	if c.planErr != nil {
		return nil, c.planErr
	}
	if c.Route == nil {
		return g.dialer.dial(ctx, c.plan)
	}
	cfg, name, plan := c.Route.Traffic, c.Route.Cluster, c.plan
	if r := c.l4; r != nil {
		// A VirtualService tls or tcp rule: its destination's subset,
		// port and traffic policy.
		c.rec.Route, c.rec.Subset, c.rec.Attempts = r.rule.Name, r.dest.Subset, 1
		p, err := r.plan(plan, c.Route.Host)
		if err != nil {
			return nil, err
		}
		cfg, name, plan = r.dest.Traffic, r.dest.Cluster, p
		c.plan = p
	}
	if cfg == nil {
		return g.dialer.dial(ctx, c.plan)
	}
	// A tunnel on a route with a traffic policy holds a place in the
	// pool (maxConnections counts tunnels) and goes to one endpoint
	// until it ends (finish releases it).
	b := &balanced{cfg: cfg, name: name, full: plan}
	if err := g.balance(ctx, c, nil, b); err != nil {
		return nil, err
	}
	up, err := g.dialer.dial(ctx, c.plan)
	if err != nil {
		b.end(0, err)
		return nil, err
	}
	c.tunnel = b
	return up, nil
}

// passthrough records, dials and splices a TLS connection whose
// ClientHello (hello) was read and accepted; the hello is replayed
// upstream first. Shared by CONNECT and the tls listener.
func (g *Gateway) passthrough(ctx context.Context, c *call, client net.Conn, hello []byte) (int, error) {
	if err := g.begin(ctx, c); err != nil {
		g.unrecordable(ctx, c, err) // after the ClientHello all we can do is close
		return 0, nil
	}
	up, err := g.dial(ctx, c)
	if err != nil {
		g.finish(ctx, c, 0, 0, 0, "", "", err)
		return 0, err
	}
	defer up.Close()
	if _, err := up.Write(hello); err != nil {
		err = fail(vocab.UpstreamUnreachable, err)
		g.finish(ctx, c, 0, 0, 0, remoteIP(up), "", err)
		return 0, err
	}
	sent, received := g.splice(client, up)
	g.finish(ctx, c, http.StatusOK, sent+int64(len(hello)), received, remoteIP(up), "", nil)
	return http.StatusOK, nil
}

// sniCheck compares the ClientHello's SNI with the routed host. The SNI
// is parsed by the same rules as every destination (package canon; RFC
// 6066 makes it a host name): one that is not a host name is a
// bad_request; one naming another host is sni_mismatch. It must be
// present unless the destination is an IP literal, for which clients
// send none.
// The canonical SNI is returned for the record (zero when there is none
// or it is not a host name).
func sniCheck(host canon.Host, sni string, helloErr error) (name canon.Host, reason vocab.Reason, detail string) {
	if helloErr != nil {
		return canon.Host{}, vocab.SNIMismatch, "no TLS ClientHello: " + helloErr.Error()
	}
	name, err := canon.ParseSNI(sni)
	switch {
	case err != nil:
		return canon.Host{}, vocab.BadRequest, "the ClientHello's SNI is not a host name: " + err.Error()
	case name.IsZero() && host.IsIP():
		return name, "", ""
	case name.IsZero():
		return name, vocab.SNIMismatch, "the ClientHello carries no SNI; expected " + host.String()
	case name != host:
		return name, vocab.SNIMismatch, "the ClientHello names " + strconv.Quote(name.String()) + " but the destination is " + host.String()
	}
	return name, "", ""
}

func writeResponse(conn net.Conn, resp *http.Response) {
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = resp.Write(conn)
}
