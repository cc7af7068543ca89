package egress

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/sluicehq/sluice/internal/canon"
	"github.com/sluicehq/sluice/internal/vocab"
)

// serveTLS accepts DNS-steered TLS: it reads the ClientHello, routes by
// its SNI to port 443, decides, and splices the bytes (passthrough). A
// denial closes the connection after the ClientHello and is recorded.
func (g *Gateway) serveTLS(ctx context.Context, ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			g.log.Error("tls listener accept", "err", err)
			return
		}
		go g.handleTLS(ctx, conn)
	}
}

func (g *Gateway) handleTLS(ctx context.Context, client net.Conn) {
	done := g.trackConn(client)
	defer done()
	defer client.Close()
	c := newCall(Request{Listener: vocab.ListenerTLS, Kind: vocab.KindTLS, Port: 443,
		Identity: g.ident.identify(addrOf(client.RemoteAddr()), nil, nil)})
	ctx, span := g.startSpan(ctx, c, nil, "TLS passthrough")
	status, err := g.routeTLS(ctx, c, client)
	endSpan(span, c, status, err)
}

// routeTLS reads the ClientHello, routes by SNI and runs the pipeline.
func (g *Gateway) routeTLS(ctx context.Context, c *call, client net.Conn) (int, error) {
	hb := g.bufs.getHello()
	defer g.bufs.putHello(hb)
	sni, hello, err := readClientHello(client, g.cfg.Limits.HeaderTimeout.D(), *hb)
	if err != nil || sni == "" {
		detail := "the ClientHello carries no SNI; the tls listener routes by SNI"
		if err != nil {
			detail = "no TLS ClientHello: " + err.Error()
		}
		c.deny(vocab.SNIMismatch, detail)
		g.refuse(ctx, c)
		return 0, nil
	}
	// The SNI is the destination: a host name (RFC 6066), parsed once.
	host, err := canon.ParseSNI(sni)
	if err != nil {
		c.deny(vocab.BadRequest, "the ClientHello's SNI is not a host name: "+err.Error())
		g.refuse(ctx, c)
		return 0, nil
	}
	c.Host, c.SNI = host, host.String()
	g.decide(ctx, c)
	if !c.Denied {
		g.resolve(ctx, c)
	}
	if !c.Denied && !g.routeL4(c) {
		c.deny(vocab.NoRoute, noL4Route(c))
	}
	if c.Denied {
		g.refuse(ctx, c)
		return 0, nil
	}
	return g.passthrough(ctx, c, client, hello)
}
