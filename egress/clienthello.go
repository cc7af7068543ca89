package egress

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"time"
)

// errHelloRead stops the TLS handshake once the ClientHello is parsed.
var errHelloRead = errors.New("client hello read")

// readClientHello reads the caller's TLS ClientHello without answering it,
// using crypto/tls's own parser (fragmented records included). It returns
// the SNI and every byte read, to be replayed upstream.
func readClientHello(conn net.Conn, timeout time.Duration) (sni string, raw []byte, err error) {
	var buf bytes.Buffer
	if timeout > 0 {
		_ = conn.SetReadDeadline(time.Now().Add(timeout))
		defer conn.SetReadDeadline(time.Time{})
	}
	var seen bool
	cfg := &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sni, seen = h.ServerName, true
		return nil, errHelloRead
	}}
	herr := tls.Server(readOnlyConn{r: io.TeeReader(conn, &buf), Conn: conn}, cfg).Handshake()
	if !seen {
		if herr == nil {
			herr = errors.New("no ClientHello")
		}
		return "", buf.Bytes(), herr
	}
	return sni, buf.Bytes(), nil
}

// readOnlyConn lets crypto/tls read the hello while nothing it writes (an
// alert) reaches the caller.
type readOnlyConn struct {
	r io.Reader
	net.Conn
}

func (c readOnlyConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c readOnlyConn) Write(p []byte) (int, error) { return 0, io.ErrClosedPipe }
func (c readOnlyConn) Close() error                { return nil }
