package egress

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/elazarl/goproxy"
	"github.com/sluicehq/sluice/registry"
)

// onConnect decides a CONNECT before any tunnel exists: a denial is a 403
// with the reason, never a silent close.
func (g *Gateway) onConnect(authority string, pctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
	r := pctx.Req
	ctx := r.Context()
	c := &call{listener: ListenerProxy, kind: KindConnect, start: time.Now(), method: http.MethodConnect, header: r.Header}
	c.id = g.ident.identify(remoteIPOf(r), r.TLS, r.Header)
	ctx, span := g.startSpan(ctx, c, r.Header, "CONNECT")
	host, port, ok := splitHostPort(authority, 443)
	if !ok {
		c.host = authority
		c.deny(ReasonBadRequest, "invalid CONNECT authority "+strconv.Quote(authority))
		g.refuse(ctx, c)
		pctx.Resp = denyResponse(r, c.reason, c.detail, c.rec.ID)
		endSpan(span, c, pctx.Resp.StatusCode, nil)
		return goproxy.RejectConnect, authority
	}
	c.host, c.port = host, port
	if route, res := g.reg.Snapshot().Lookup(host, port); res == registry.Declared && passthroughTLS(route) {
		if _, isIP := registry.ParseIPLiteral(host); !isIP {
			c.sni = host // any other SNI will be refused as sni_mismatch
		}
	}
	g.decide(ctx, c)
	if c.denied {
		g.refuse(ctx, c)
		pctx.Resp = denyResponse(r, c.reason, c.detail, c.rec.ID)
		endSpan(span, c, pctx.Resp.StatusCode, nil)
		return goproxy.RejectConnect, authority
	}
	if g.aud.OnFailureDeny() {
		if err := g.aud.Ready(); err != nil {
			g.unrecordable(ctx, c, err)
			pctx.Resp = denyResponse(r, c.reason, c.detail, "")
			endSpan(span, c, pctx.Resp.StatusCode, nil)
			return goproxy.RejectConnect, authority
		}
	}
	return &goproxy.ConnectAction{Action: goproxy.ConnectHijack, Hijack: func(_ *http.Request, client net.Conn, _ *goproxy.ProxyCtx) {
		status, err := g.tunnel(context.WithoutCancel(ctx), c, client)
		endSpan(span, c, status, err)
	}}, authority
}

// passthroughTLS reports whether CONNECTs to the route carry TLS whose
// ClientHello must name the destination (HTTPS and TLS ports).
func passthroughTLS(r *registry.Route) bool { return r.Port.Protocol.IsTLS() }

// tunnel runs an allowed CONNECT on the hijacked client connection and
// returns the status it answered and the error that ended it, if any.
func (g *Gateway) tunnel(ctx context.Context, c *call, client net.Conn) (int, error) {
	done := g.trackConn(client)
	defer done()
	defer client.Close()
	if passthroughTLS(c.route) {
		// TLS port: answer 200, then read the ClientHello before dialling.
		if _, err := client.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
			return 0, err
		}
		sni, hello, err := readClientHello(client, g.cfg.Limits.HeaderTimeout.D())
		c.sni = sni
		if reason, detail := sniCheck(c.host, sni, err); reason != "" {
			c.deny(reason, detail)
			g.refuse(ctx, c)
			return http.StatusOK, nil
		}
		return g.passthrough(ctx, c, client, hello)
	}
	// TCP (and other) ports: record, dial, then answer 200 or the failure.
	c.sni = ""
	if err := g.begin(ctx, c); err != nil {
		g.unrecordable(ctx, c, err)
		resp := denyResponse(nil, c.reason, c.detail, "")
		writeResponse(client, resp)
		return resp.StatusCode, nil
	}
	up, err := g.dialer.dial(ctx, c.plan())
	if err != nil {
		reason := classify(err)
		g.finish(ctx, c, statusFor(reason), 0, 0, "", "", err)
		writeResponse(client, denyResponse(nil, reason, err.Error(), c.rec.ID))
		return statusFor(reason), err
	}
	defer up.Close()
	if _, err := client.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		g.finish(ctx, c, 0, 0, 0, remoteIP(up), "", err)
		return 0, err
	}
	sent, received := g.splice(client, up)
	g.finish(ctx, c, http.StatusOK, sent, received, remoteIP(up), "", nil)
	return http.StatusOK, nil
}

// passthrough records, dials and splices a TLS connection whose
// ClientHello (hello) was read and accepted; the hello is replayed
// upstream first. Shared by CONNECT and the tls listener.
func (g *Gateway) passthrough(ctx context.Context, c *call, client net.Conn, hello []byte) (int, error) {
	if err := g.begin(ctx, c); err != nil {
		g.unrecordable(ctx, c, err) // after the ClientHello all we can do is close
		return 0, nil
	}
	up, err := g.dialer.dial(ctx, c.plan())
	if err != nil {
		g.finish(ctx, c, 0, 0, 0, "", "", err)
		return 0, err
	}
	defer up.Close()
	if _, err := up.Write(hello); err != nil {
		err = fail(ReasonUpstreamUnreachable, err)
		g.finish(ctx, c, 0, 0, 0, remoteIP(up), "", err)
		return 0, err
	}
	sent, received := g.splice(client, up)
	g.finish(ctx, c, http.StatusOK, sent+int64(len(hello)), received, remoteIP(up), "", nil)
	return http.StatusOK, nil
}

// sniCheck compares the ClientHello's SNI with the routed host: it must
// be present (unless the destination is an IP literal, for which clients
// send none) and equal, case-insensitively.
func sniCheck(host, sni string, helloErr error) (reason, detail string) {
	if helloErr != nil {
		return ReasonSNIMismatch, "no TLS ClientHello: " + helloErr.Error()
	}
	if sni == "" {
		if _, isIP := registry.ParseIPLiteral(host); isIP {
			return "", ""
		}
		return ReasonSNIMismatch, "the ClientHello carries no SNI; expected " + host
	}
	if registry.NormalizeHost(sni) != host {
		return ReasonSNIMismatch, "the ClientHello names " + strconv.Quote(sni) + " but the destination is " + host
	}
	return "", ""
}

func writeResponse(conn net.Conn, resp *http.Response) {
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = resp.Write(conn)
}
