package egress

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/vocab"
)

// tlsGet does a TLS handshake naming sni over c and one GET, and returns
// the status.
func tlsGet(t *testing.T, c net.Conn, sni string) int {
	t.Helper()
	tc := tls.Client(c, &tls.Config{ServerName: sni, InsecureSkipVerify: true}) // the test upstream's certificate names example.com
	fmt.Fprintf(tc, "GET /in HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", sni)
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatalf("GET in the tunnel: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// pipelinedConn sends head and the first bytes written on it (the
// ClientHello) in one write, and reads past the CONNECT's 200 before the
// first byte it returns: a caller that does not wait for the 200.
type pipelinedConn struct {
	net.Conn
	head string
	sent bool
	br   *bufio.Reader
	read bool
}

func (p *pipelinedConn) Write(b []byte) (int, error) {
	if p.sent {
		return p.Conn.Write(b)
	}
	p.sent = true
	if _, err := p.Conn.Write(append([]byte(p.head), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (p *pipelinedConn) Read(b []byte) (int, error) {
	if !p.read {
		p.read = true
		resp, err := http.ReadResponse(p.br, nil)
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("CONNECT: %s", resp.Status)
		}
	}
	return p.br.Read(b)
}

func TestLeanConnect(t *testing.T) {
	p := startPipeline(t, nil, nil, nil)
	proxy := p.g.Addr(vocab.ListenerProxy)
	dial := func(t *testing.T) (net.Conn, *bufio.Reader) {
		c, err := net.DialTimeout("tcp", proxy, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	connect := func(t *testing.T, c net.Conn, br *bufio.Reader, head string) {
		t.Helper()
		if _, err := io.WriteString(c, head); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %v %v", resp, err)
		}
	}
	connectHead := func(authority, proto string) string {
		return "CONNECT " + authority + " " + proto + "\r\nHost: " + authority + "\r\n\r\n"
	}

	t.Run("an allowed TLS tunnel", func(t *testing.T) {
		c, br := dial(t)
		connect(t, c, br, connectHead("secure.test:443", "HTTP/1.1"))
		if st := tlsGet(t, c, "secure.test"); st != 200 {
			t.Errorf("GET in the tunnel: %d", st)
		}
		c.Close() // the record ends with the tunnel
		r := p.rec.wait(t, "the tunnel", func(r *audit.Record) bool { return r.Host == "secure.test" && r.Status == 200 })
		if r.Kind != vocab.KindConnect || r.Listener != vocab.ListenerProxy || r.SNI != "secure.test" || r.BytesSent == 0 || r.BytesReceived == 0 {
			t.Errorf("record: %+v", r)
		}
	})
	t.Run("a ClientHello pipelined behind the CONNECT head", func(t *testing.T) {
		c, br := dial(t)
		pc := &pipelinedConn{Conn: c, head: connectHead("secure.test:443", "HTTP/1.1"), br: br}
		if st := tlsGet(t, pc, "secure.test"); st != 200 {
			t.Errorf("GET in the tunnel: %d", st)
		}
	})
	t.Run("a CONNECT after a keep-alive GET", func(t *testing.T) {
		c, br := dial(t)
		got := rawExchange(t, c, br, "GET http://plain.test/first HTTP/1.1\r\nHost: plain.test\r\n\r\n", 1)
		if !strings.HasPrefix(got[0], "200 GET /first") {
			t.Fatalf("GET: %q", got)
		}
		connect(t, c, br, connectHead("secure.test:443", "HTTP/1.1"))
		if st := tlsGet(t, c, "secure.test"); st != 200 {
			t.Errorf("GET in the tunnel: %d", st)
		}
	})
	t.Run("a CONNECT pipelined behind a GET", func(t *testing.T) {
		c, br := dial(t)
		got := rawExchange(t, c, br, "GET http://plain.test/first HTTP/1.1\r\nHost: plain.test\r\n\r\n"+connectHead("secure.test:443", "HTTP/1.1"), 1)
		if !strings.HasPrefix(got[0], "200 GET /first") {
			t.Fatalf("GET: %q", got)
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("CONNECT behind a GET: %v %v", resp, err)
		}
		if st := tlsGet(t, c, "secure.test"); st != 200 {
			t.Errorf("GET in the tunnel: %d", st)
		}
	})
	t.Run("a CONNECT to a port declared HTTP is served as HTTP", func(t *testing.T) {
		c, br := dial(t)
		connect(t, c, br, connectHead("plain.test:80", "HTTP/1.1"))
		got := rawExchange(t, c, br, "GET /inside HTTP/1.1\r\nHost: plain.test\r\n\r\nGET /again HTTP/1.1\r\nHost: plain.test\r\n\r\n", 2)
		if !strings.HasPrefix(got[0], "200 GET /inside") || !strings.HasPrefix(got[1], "200 GET /again") {
			t.Errorf("requests in the tunnel: %q", got)
		}
		p.rec.wait(t, "the request inside", func(r *audit.Record) bool { return r.Path == "/again" && r.Kind == vocab.KindHTTP })
	})
	t.Run("a TCP tunnel", func(t *testing.T) {
		c, br := dial(t)
		connect(t, c, br, connectHead("plain.test:5432", "HTTP/1.1"))
		got := rawExchange(t, c, br, "GET /tcp HTTP/1.1\r\nHost: plain.test\r\n\r\n", 1)
		if !strings.HasPrefix(got[0], "200 GET /tcp") {
			t.Errorf("through the TCP tunnel: %q", got)
		}
	})
	t.Run("HTTP/1.0 goes to goproxy and still tunnels", func(t *testing.T) {
		c, br := dial(t)
		connect(t, c, br, "CONNECT secure.test:443 HTTP/1.0\r\n\r\n")
		if st := tlsGet(t, c, "secure.test"); st != 200 {
			t.Errorf("GET in the tunnel: %d", st)
		}
	})
	t.Run("an SNI naming another host", func(t *testing.T) {
		c, br := dial(t)
		connect(t, c, br, connectHead("secure.test:443", "HTTP/1.1"))
		tc := tls.Client(c, &tls.Config{ServerName: "other.test", InsecureSkipVerify: true})
		if err := tc.Handshake(); err == nil {
			t.Error("a fronted handshake succeeded")
		}
		p.rec.wait(t, "sni_mismatch", reasonIs("secure.test", vocab.SNIMismatch))
	})
}

// The loop's denials are byte for byte goproxy's (the record id aside):
// the same status, reason header and body, and the connection closes.
func TestLeanConnectDenialsAsBefore(t *testing.T) {
	p := startPipeline(t, nil, nil, nil)
	proxy := p.g.Addr(vocab.ListenerProxy)
	ids := regexp.MustCompile(`rec-\d+`)
	answer := func(raw string) string {
		c, err := net.DialTimeout("tcp", proxy, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprint(c, raw)
		b, err := io.ReadAll(c) // the connection closes after a denial
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		return ids.ReplaceAllString(string(b), "rec-N")
	}
	for _, tt := range []struct {
		name, authority string
		status          int
		reason          vocab.Reason
	}{
		{"undeclared", "nowhere.test:443", 403, vocab.UndeclaredDestination},
		{"no tcp route", "routedtcp.test:5432", 404, vocab.NoRoute},
		{"bad authority", "a..b:443", 400, vocab.BadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			head := "CONNECT " + tt.authority + " HTTP/1.1\r\nHost: " + tt.authority + "\r\n"
			lean := answer(head + "\r\n")
			handed := answer(head + "Upgrade: none\r\n\r\n") // served by goproxy
			if lean != handed {
				t.Errorf("the loop answered\n%q\ngoproxy answered\n%q", lean, handed)
			}
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(lean)), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || resp.Header.Get("Sluice-Reason") != string(tt.reason) ||
				!strings.Contains(string(body), `"reason":"`+string(tt.reason)+`"`) {
				t.Errorf("%d %s %s", resp.StatusCode, resp.Header.Get("Sluice-Reason"), body)
			}
		})
	}
}

// A tunnel the loop serves is tracked: Shutdown waits for it, then, past
// its deadline, closes it.
func TestLeanConnectShutdown(t *testing.T) {
	p := startPipeline(t, nil, nil, nil)
	c := connectTo(t, p.g.Addr(vocab.ListenerProxy), "plain.test:5432")
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := p.g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Errorf("shutdown returned after %s with a tunnel open", el)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("tunnel after shutdown: %v, want EOF", err)
	}
}

// TestLeanConnectEligibility: which CONNECTs the loop serves; the rest go
// to net/http and goproxy.
func TestLeanConnectEligibility(t *testing.T) {
	for _, tt := range []struct {
		raw  string
		want bool
	}{
		{"CONNECT secure.test:443 HTTP/1.1\r\nHost: secure.test:443\r\n\r\n", true},
		{"CONNECT secure.test:443 HTTP/1.1\r\nHost: secure.test:443\r\nUser-Agent: curl/8\r\nProxy-Connection: Keep-Alive\r\n\r\n", true},
		{"CONNECT secure.test:443 HTTP/1.1\r\n\r\n", true},
		{"CONNECT secure.test:443 HTTP/1.1\r\nhost: secure.test:443\r\n\r\n\x16\x03\x01", true},
		{"CONNECT secure.test:443 HTTP/1.0\r\n\r\n", false},
		{"CONNECT secure.test:443 HTTP/1.1\r\nHost: a b\r\n\r\n", false},
		{"CONNECT secure.test:443 HTTP/1.1\r\nHost: secure.test:443\r\n more\r\n\r\n", false},
		{"CONNECT secure.test:443 HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", false},
		{"CONNECT secure.test:443 HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", false},
		{"CONNECT secure.test:443 HTTP/1.1\r\nUpgrade: h2c\r\n\r\n", false},
		{"GET http://plain.test/ HTTP/1.1\r\nHost: plain.test\r\n\r\n", false},
	} {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(tt.raw)))
		if err != nil {
			t.Fatalf("%q: %v", tt.raw, err)
		}
		if got := leanConnect(r, []byte(tt.raw)); got != tt.want {
			t.Errorf("%q: lean %v, want %v", tt.raw, got, tt.want)
		}
	}
}
