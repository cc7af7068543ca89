package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// helloFirst sends head together with the first bytes written (the
// ClientHello) and reads past the CONNECT's 200 before the first byte it
// returns: a client that does not wait for the 200 before its hello.
type helloFirst struct {
	net.Conn
	head       string
	br         *bufio.Reader
	sent, read bool
}

func (h *helloFirst) Write(p []byte) (int, error) {
	if h.sent {
		return h.Conn.Write(p)
	}
	h.sent = true
	if _, err := h.Conn.Write(append([]byte(h.head), p...)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *helloFirst) Read(p []byte) (int, error) {
	if !h.read {
		h.read = true
		resp, err := http.ReadResponse(h.br, &http.Request{Method: http.MethodConnect})
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("CONNECT: %s", resp.Status)
		}
	}
	return h.br.Read(p)
}

// The proxy listener serves CONNECT in its own loop (egress/lean_connect.go):
// a hello pipelined behind the CONNECT head, a CONNECT after a keep-alive
// GET on the same connection, and an HTTP/1.0 CONNECT (served by goproxy)
// all tunnel, and each tunnel is recorded with its SNI.
func TestLeanConnectTunnels(t *testing.T) {
	ca := newCA(t, "test-ca")
	tlsUp := startTLSUpstream(t, ca.issue("secure", false, "secure.test.example"), nil)
	up := startUpstream(t)
	g := StartGateway(t, Options{Files: map[string]string{
		"registry/secure.yaml": staticSE("secure", "secure.test.example", 443, "HTTPS", tlsUp.Port),
		"registry/api.yaml":    staticSE("api", "api.test.example", 80, "HTTP", up.Port),
	}})
	dial := func(t *testing.T) (net.Conn, *bufio.Reader) {
		c, err := net.DialTimeout("tcp", g.Proxy, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	// getOverTLS does a TLS handshake over c and GETs path.
	getOverTLS := func(t *testing.T, c net.Conn, path string) {
		t.Helper()
		tc := tls.Client(c, &tls.Config{ServerName: "secure.test.example", RootCAs: ca.Pool})
		fmt.Fprintf(tc, "GET %s HTTP/1.1\r\nHost: secure.test.example\r\nConnection: close\r\n\r\n", path)
		resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s in the tunnel: %v %v", path, resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		c.Close()
	}
	connect := func(t *testing.T, c net.Conn, br *bufio.Reader, head string) {
		t.Helper()
		fmt.Fprint(c, head)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %v %v", resp, err)
		}
	}
	const head11 = "CONNECT secure.test.example:443 HTTP/1.1\r\nHost: secure.test.example:443\r\n\r\n"

	t.Run("a ClientHello pipelined behind the CONNECT head", func(t *testing.T) {
		c, br := dial(t)
		getOverTLS(t, &helloFirst{Conn: c, head: head11, br: br}, "/pipelined")
	})
	t.Run("a CONNECT after a keep-alive GET", func(t *testing.T) {
		c, br := dial(t)
		fmt.Fprint(c, "GET http://api.test.example/first HTTP/1.1\r\nHost: api.test.example\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET: %v %v", resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		connect(t, c, br, head11)
		getOverTLS(t, &bufConn{Conn: c, r: br}, "/after-get")
	})
	t.Run("an HTTP/1.0 CONNECT", func(t *testing.T) {
		c, br := dial(t)
		connect(t, c, br, "CONNECT secure.test.example:443 HTTP/1.0\r\n\r\n")
		getOverTLS(t, &bufConn{Conn: c, r: br}, "/http10")
	})
	Eventually(t, 10*time.Second, "three tunnel records", func() bool {
		n := 0
		for _, r := range records(t, g, url.Values{"host": {"secure.test.example"}}) {
			if r.str("kind") == "connect" && r.str("sni") == "secure.test.example" && r.str("time_end") != "" &&
				r.str("decision") == "allow" {
				n++
			}
		}
		return n == 3
	})
}
