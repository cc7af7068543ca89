package e2e

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// hostPolicy denies partner.test to anyone but the "trusted" caller and
// makes *.saas.test read-only; every denial names the host policy saw, so
// a record shows what policy was asked about.
const hostPolicy = `package sluice.egress

default allow := false

allow if count(reasons) == 0

reasons contains sprintf("policy saw %s", [input.destination.host]) if {
	input.destination.host == "partner.test"
	input.source.identity != "trusted"
}

reasons contains sprintf("policy saw %s", [input.destination.host]) if {
	endswith(input.destination.host, ".saas.test")
	input.request.kind == "http"
	not input.request.method in {"GET", "HEAD"}
}
`

// hostGateway declares partner.test and x.saas.test on the upstream's
// port (HTTP), and on 443 as TLS for the tls listener and CONNECT.
func hostGateway(t *testing.T, up *upstream) *Gateway {
	t.Helper()
	reg := staticSE("partner", "partner.test", up.Port, "HTTP", up.Port) +
		staticSE("saas", "x.saas.test", up.Port, "HTTP", up.Port) +
		staticSE("partner-tls", "partner.test", 443, "TLS", up.Port)
	return StartGateway(t, Options{
		Config: "policy: {paths: [policy]}\n",
		Files:  map[string]string{"registry/r.yaml": reg, "policy/p.rego": hostPolicy},
	})
}

// rawHTTP sends one raw request (bytes a client library would refuse to
// send) and returns the status and Sluice-Reason of the answer.
func rawHTTP(t testing.TB, addr, req string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("response to %q: %v", req, err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Sluice-Reason")
}

// connectThen sends a raw CONNECT and, when it is answered 200, one raw
// request inside the tunnel; it returns the last status and reason.
func connectThen(t testing.TB, proxy, connect, inside string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", proxy, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	if _, err := c.Write([]byte(connect)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("response to %q: %v", connect, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return resp.StatusCode, resp.Header.Get("Sluice-Reason")
	}
	if _, err := c.Write([]byte(inside)); err != nil {
		t.Fatal(err)
	}
	if resp, err = http.ReadResponse(br, nil); err != nil {
		t.Fatalf("response to %q inside the tunnel: %v", inside, err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Sluice-Reason")
}

// The critical bypass of the hardening issue: one destination spelled many
// ways, on every listener, must either be refused as bad_request or be
// the canonical partner.test everywhere: the registry's match (the record's
// service_entry), policy's input (the reason policy gives names the host it
// saw) and the record's host. No spelling reaches the upstream.
func TestHostSpellingsCannotBypassPolicy(t *testing.T) {
	up := startUpstream(t)
	g := hostGateway(t, up)
	p := up.Port
	spellings := []string{
		"partner.test", "PARTNER.TEST", "partner.test.", "Partner.Test.",
		"partner.test..", ".partner.test", "partner..test", "partner.test...",
		"xn--partner.test", "partner.test%2e", "partner.test%00",
	}
	type attempt struct{ name, addr, req string }
	var attempts []attempt
	for _, h := range spellings {
		attempts = append(attempts,
			attempt{"proxy absolute-URI " + h, g.Proxy, fmt.Sprintf("GET http://%s:%d/x HTTP/1.1\r\nHost: %s:%d\r\n\r\n", h, p, h, p)},
			attempt{"http listener Host " + h, g.HTTP, fmt.Sprintf("GET /x HTTP/1.1\r\nHost: %s:%d\r\n\r\n", h, p)},
			attempt{"CONNECT " + h, g.Proxy, fmt.Sprintf("CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n", h, p, h, p)},
		)
	}
	// Unicode that IDNA maps onto partner.test (fullwidth full stop),
	// in the request line, where net/http lets UTF-8 through.
	attempts = append(attempts, attempt{"proxy absolute-URI fullwidth dot", g.Proxy,
		fmt.Sprintf("GET http://partner\uff0etest:%d/x HTTP/1.1\r\nHost: partner.test:%d\r\n\r\n", p, p)})
	before := len(up.IDs())
	// refused: our bad_request or policy_denied, or net/http's own 400
	// (no Sluice-Reason; the gateway records it as bad_request too).
	refused := func(status int, reason string) bool {
		return (status == 400 && reason == "") || reason == "bad_request" || (status == 403 && reason == "policy_denied")
	}
	for _, a := range attempts {
		if strings.HasPrefix(a.req, "CONNECT") {
			// The port is declared HTTP: an accepted CONNECT is served as
			// HTTP, and the request inside is what policy decides.
			h := strings.TrimPrefix(a.name, "CONNECT ")
			inside := fmt.Sprintf("GET /x HTTP/1.1\r\nHost: %s:%d\r\n\r\n", h, p)
			if status, reason := connectThen(t, a.addr, a.req, inside); !refused(status, reason) {
				t.Errorf("%s: %d %q, want bad_request or policy_denied", a.name, status, reason)
			}
			continue
		}
		if status, reason := rawHTTP(t, a.addr, a.req); !refused(status, reason) {
			t.Errorf("%s: %d %q, want bad_request or policy_denied", a.name, status, reason)
		}
	}
	// A read-only rule is not bypassed by a spelling either.
	for _, h := range []string{"x.saas.test..", "X.SAAS.TEST.", "x..saas.test"} {
		status, reason := rawHTTP(t, g.Proxy, fmt.Sprintf("POST http://%s:%d/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", h, p))
		if !refused(status, reason) {
			t.Errorf("POST to %s: %d %q", h, status, reason)
		}
	}
	if n := len(up.IDs()) - before; n != 0 {
		t.Fatalf("%d denied spellings reached the upstream", n)
	}

	// Every refusal is on record, through the CLI's --decision deny. The
	// gateway is stopped first: identical refusals net/http made itself
	// are folded, and their count is written when the fold window ends
	// or the gateway stops.
	g.Stop()
	recs, out := queryRecords(t, g, "-c", g.Config, "--decision", "deny")
	var bad, denied int
	for _, r := range recs {
		switch r.str("reason") {
		case "bad_request":
			bad += max(int(r.num("count")), 1)
		case "policy_denied":
			denied++
			host := r.str("host")
			rules := fmt.Sprint(r["policy_rules"])
			if (host != "partner.test" && host != "x.saas.test") || !strings.Contains(rules, "policy saw "+host) ||
				!strings.HasPrefix(r.str("service_entry"), "test/") {
				t.Errorf("policy, registry and record disagree: host %q, service_entry %q, policy %s", host, r.str("service_entry"), rules)
			}
		default:
			t.Errorf("unexpected denial %v", r)
		}
	}
	if bad+denied < len(attempts)+3 {
		t.Errorf("%d attempts + 3 POSTs, but %d bad_request and %d policy_denied records\n%s", len(attempts), bad, denied, out)
	}
}

// SNI is a host name (RFC 6066): on the tls listener an SNI with a port,
// an address or an empty label is refused and recorded as bad_request;
// a differently cased SNI is the same destination, which policy sees in
// canonical form.
func TestTLSListenerSNIMustBeAHostName(t *testing.T) {
	up := startUpstream(t)
	g := hostGateway(t, up)
	for _, sni := range []string{"partner.test:80", "127.0.0.1", "partner..test", "partner.test\x00.evil"} {
		sendClientHello(t, g.TLS, sni)
	}
	sendClientHello(t, g.TLS, "PARTNER.test")
	recs, _ := deniedRecords(t, g)
	var bad int
	for _, r := range recs {
		if r.str("listener") != "tls" {
			continue
		}
		switch r.str("reason") {
		case "bad_request", "sni_mismatch": // sni_mismatch: crypto/tls found no usable ClientHello
			bad++
		case "policy_denied":
			if r.str("host") != "partner.test" || !strings.Contains(fmt.Sprint(r["policy_rules"]), "policy saw partner.test") {
				t.Errorf("SNI PARTNER.test: %v", r)
			}
		}
	}
	if bad < 4 {
		t.Errorf("%d bad_request records on the tls listener, want 4:\n%v", bad, recs)
	}
}

// sendClientHello sends a minimal TLS 1.2 ClientHello whose server_name
// is sni, byte for byte (crypto/tls would refuse to send most of these),
// and waits until the gateway closes the connection.
func sendClientHello(t testing.TB, addr, sni string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(clientHello(sni)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// clientHello builds a TLS record holding a ClientHello with one SNI.
func clientHello(sni string) []byte {
	u16 := func(b []byte, v int) []byte { return binary.BigEndian.AppendUint16(b, uint16(v)) }
	var ext []byte
	ext = u16(ext, 0) // server_name
	ext = u16(ext, len(sni)+5)
	ext = u16(ext, len(sni)+3)
	ext = append(ext, 0) // host_name
	ext = u16(ext, len(sni))
	ext = append(ext, sni...)
	var body []byte
	body = append(body, 3, 3)                         // TLS 1.2
	body = append(body, make([]byte, 32)...)          // random
	body = append(body, 0)                            // no session id
	body = append(body, 0, 4, 0xc0, 0x2f, 0x13, 0x01) // two cipher suites
	body = append(body, 1, 0)                         // null compression
	body = u16(body, len(ext))
	body = append(body, ext...)
	hs := append([]byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	rec := []byte{22, 3, 1}
	rec = u16(rec, len(hs))
	return append(rec, hs...)
}

// A CONNECT to a port declared HTTP is served as HTTP: every request in
// the tunnel is decided and recorded like an absolute-URI request, and
// one naming another host is refused as host_mismatch.
func TestConnectToAnHTTPPortIsServedAsHTTP(t *testing.T) {
	up := startUpstream(t)
	g := hostGateway(t, up)
	c, err := net.DialTimeout("tcp", g.Proxy, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	fmt.Fprintf(c, "CONNECT x.saas.test:%d HTTP/1.1\r\nHost: x.saas.test:%d\r\n\r\n", up.Port, up.Port)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	exchange := func(req string) (int, string) {
		t.Helper()
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("in the tunnel, %q: %v", req, err)
		}
		var b strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Sluice-Reason")
	}
	if s, r := exchange("GET /read HTTP/1.1\r\nHost: x.saas.test\r\n\r\n"); s != 200 {
		t.Errorf("GET in the tunnel: %d %s", s, r)
	}
	if s, r := exchange("POST /write HTTP/1.1\r\nHost: x.saas.test\r\nContent-Length: 2\r\n\r\nhi"); s != 403 || r != "policy_denied" {
		t.Errorf("POST in the tunnel: %d %s, want 403 policy_denied", s, r)
	}
	if s, r := exchange("GET / HTTP/1.1\r\nHost: partner.test\r\n\r\n"); s != 403 || r != "host_mismatch" {
		t.Errorf("another host in the tunnel: %d %s, want 403 host_mismatch", s, r)
	}
	waitRecord(t, g, url.Values{"host": {"x.saas.test"}}, "the GET inside the tunnel", func(r record) bool {
		return r.str("kind") == "http" && r.str("path") == "/read" && r.str("decision") == "allow" && r.num("status") == 200
	})
	recs, _ := deniedRecords(t, g)
	var seen []string
	for _, r := range recs {
		seen = append(seen, r.str("reason")+" "+r.str("path"))
	}
	for _, want := range []string{"policy_denied /write", "host_mismatch /"} {
		if !strings.Contains(strings.Join(seen, "\n"), want) {
			t.Errorf("no %q record among %v", want, seen)
		}
	}
}

// deniedRecords is `sluice audit query --decision deny` through the
// gateway (--server: every record committed before the query is in it).
func deniedRecords(t testing.TB, g *Gateway) ([]record, string) {
	t.Helper()
	return queryRecords(t, g, "--server", "http://"+g.Admin, "--decision", "deny")
}
