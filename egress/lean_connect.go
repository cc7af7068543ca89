package egress

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/http/httpguts"
)

// The loop serves CONNECT on the proxy listener itself (#18): net/http's
// server and goproxy around a tunnel cost more CPU than the rest of its
// setup besides the dial. decideConnect and serveConnect (connect.go) are
// the same code goproxy's hook runs for the CONNECTs the loop hands over
// (HTTP/1.0, a body, Expect or Upgrade, a head net/http would refuse),
// so the answers, records, spans and metrics are the same either way.

// leanConnect says whether the loop serves a CONNECT request: HTTP/1.1,
// no body, no Upgrade or Expect, and a head net/http's server would
// accept (valid header names and values, a valid Host header when there
// is one: head is the request's raw bytes, as http.ReadRequest drops the
// Host header).
func leanConnect(r *http.Request, head []byte) bool {
	return r.Method == http.MethodConnect && leanHead(r) && hostHeaderValid(head)
}

// hostHeaderValid checks the Host header of a raw request head as
// net/http's server does (httpguts.ValidHostHeader); a head without one
// is valid (CONNECT need not carry it). A Host line continued on the next
// line (obsolete folding) is not judged here: it is reported invalid, so
// that net/http reads and judges it.
func hostHeaderValid(head []byte) bool {
	end := bytes.Index(head, []byte("\r\n\r\n"))
	if end < 0 {
		return false
	}
	head = head[:end+2]
	_, rest, _ := bytes.Cut(head, []byte("\n")) // the request line
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		if len(line) < 5 || !bytes.EqualFold(line[:5], []byte("host:")) {
			continue
		}
		if len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
			return false
		}
		v := bytes.Trim(bytes.TrimSuffix(line[5:], []byte("\r")), " \t")
		return httpguts.ValidHostHeader(string(v))
	}
	return true
}

// serveConnect serves a CONNECT read by the loop: the decision, then the
// denial (and the connection closes) or the tunnel on the raw
// connection. Bytes the caller sent after the CONNECT head (a pipelined
// ClientHello) are in br and are read first. bw holds responses to
// pipelined requests before the CONNECT, sent first; nil when there are
// none.
func (s *leanServer) serveConnect(ctx context.Context, lc *leanConn, br *bufio.Reader, bw *bufio.Writer, r *http.Request) {
	g := s.g
	if bw != nil && bw.Flush() != nil {
		return
	}
	_ = lc.conn.SetDeadline(time.Time{})
	cc := g.decideConnect(ctx, r, addrOf(lc.conn.RemoteAddr()), r.URL.Host)
	if cc.deny != nil {
		// As goproxy did: the denial, then the connection closes.
		_ = lc.conn.SetWriteDeadline(time.Now().Add(denyWriteTimeout))
		if bw == nil {
			bw = bufio.NewWriterSize(lc.conn, 1024)
		}
		if cc.deny.Write(bw) == nil {
			_ = bw.Flush()
		}
		endSpan(cc.span, cc.c, cc.deny.StatusCode, nil)
		return
	}
	var client net.Conn = lc.conn
	if n := br.Buffered(); n > 0 {
		// Copied: br goes back to the pool when the loop ends, while a
		// hijacked request inside an HTTP tunnel may outlive it.
		pipelined, _ := br.Peek(n)
		client = &replayConn{Conn: lc.conn, prefix: bytes.Clone(pipelined)}
	}
	g.serveConnect(cc, client)
}

// denyWriteTimeout bounds writing a denial to a caller that does not read.
const denyWriteTimeout = 5 * time.Second
