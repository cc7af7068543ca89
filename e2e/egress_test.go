package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Absolute-URI GET and POST through the proxy listener reach the
// upstream; hop-by-hop headers and Proxy-Authorization never do; the
// upstream sees Sluice-Request-Id and the record has the outcome.
func TestProxyForwardHTTP(t *testing.T) {
	up := startUpstream(t)
	g := StartGateway(t, Options{Files: map[string]string{
		"registry/api.yaml": staticSE("api", "api.test.example", 80, "HTTP", up.Port),
	}})
	status, body, serr, _ := curl(t, "-x", "http://"+g.Proxy, "http://api.test.example/v1/items?q=secret",
		"-H", "Proxy-Authorization: Basic dXNlcjpwYXNz", "-H", "Connection: X-Drop-Me", "-H", "X-Drop-Me: 1",
		"-H", "Keep-Alive: timeout=5", "-H", "TE: trailers", "-D", "-")
	if status != 200 {
		t.Fatalf("GET status %d: %s %s", status, body, serr)
	}
	_, js, _ := strings.Cut(body, "\r\n\r\n")
	var e echoed
	if err := json.Unmarshal([]byte(js), &e); err != nil {
		t.Fatalf("echo body: %v\n%s", err, body)
	}
	for _, h := range []string{"Proxy-Authorization", "X-Drop-Me", "Keep-Alive", "Te", "Proxy-Connection"} {
		if _, ok := e.Header[h]; ok {
			t.Errorf("upstream received hop-by-hop header %s", h)
		}
	}
	id := strings.Join(e.Header["Sluice-Request-Id"], "")
	if id == "" || e.Host != "api.test.example" || e.Path != "/v1/items" {
		t.Errorf("upstream saw host %q path %q request id %q", e.Host, e.Path, id)
	}
	if strings.Contains(body, "X-Upstream-Hop: must-not") {
		t.Errorf("hop-by-hop response header reached the caller:\n%s", body)
	}
	if !strings.Contains(body, "Sluice-Request-Id: "+id) {
		t.Errorf("the caller does not see the request id")
	}
	// POST with a body.
	status, body, serr, _ = curl(t, "-x", "http://"+g.Proxy, "http://api.test.example/v1/charges", "-d", `{"amount":42}`, "-H", "Content-Type: application/json")
	if status != 200 || !strings.Contains(body, `"body":"{\"amount\":42}"`) || !strings.Contains(body, `"method":"POST"`) {
		t.Fatalf("POST status %d: %s %s", status, body, serr)
	}
	r := waitRecord(t, g, url.Values{"host": {"api.test.example"}}, "the GET with its outcome", func(r record) bool {
		return r.str("id") == id && r.num("status") == 200
	})
	if r.str("decision") != "allow" || r.str("path") != "/v1/items" || r.str("service_entry") != "test/api" || r.str("dialed_ip") != "127.0.0.1" ||
		r.str("listener") != "proxy" || r.str("kind") != "http" || r.num("bytes_received") == 0 {
		t.Errorf("record: %v", r)
	}
}

// Undeclared hosts and ports get an explicit 403 with the reason header
// and the JSON body, for plain requests and for CONNECT (before any
// tunnel), and are recorded.
func TestProxyDeniesUndeclared(t *testing.T) {
	up := startUpstream(t)
	g := StartGateway(t, Options{Files: map[string]string{
		"registry/api.yaml": staticSE("api", "api.test.example", 80, "HTTP", up.Port),
	}})
	for _, tc := range []struct{ url, reason string }{
		{"http://undeclared.test.example/", "undeclared_destination"},
		{"http://api.test.example:8081/", "undeclared_port"},
		{"http://203.0.113.9/", "undeclared_destination"},
		{"http://127.0.0.1:" + strconv.Itoa(up.Port) + "/", "undeclared_destination"}, // IP literal of a real upstream: not declared
	} {
		status, body, serr, _ := curl(t, "-x", "http://"+g.Proxy, tc.url, "-D", "-")
		if status != 403 || !strings.Contains(body, "Sluice-Reason: "+tc.reason) {
			t.Errorf("%s: status %d, want 403 %s:\n%s%s", tc.url, status, tc.reason, body, serr)
			continue
		}
		_, js, _ := strings.Cut(body, "\r\n\r\n")
		var d struct {
			Error     string `json:"error"`
			Reason    string `json:"reason"`
			Detail    string `json:"detail"`
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal([]byte(js), &d); err != nil || d.Error != "egress_denied" || d.Reason != tc.reason || d.Detail == "" {
			t.Errorf("%s: body %q", tc.url, js)
		}
	}
	// CONNECT to an undeclared host: 403 before any tunnel.
	status, code := rawConnect(t, g.Proxy, "undeclared.test.example:443")
	if status != 403 || code != "undeclared_destination" {
		t.Errorf("CONNECT undeclared: %d %s", status, code)
	}
	_, _, serr, rc := curl(t, "-x", "http://"+g.Proxy, "https://undeclared.test.example/")
	if rc == 0 || !strings.Contains(serr, "403") {
		t.Errorf("curl through a denied CONNECT: rc %d %s", rc, serr)
	}
	waitRecord(t, g, url.Values{"decision": {"deny"}}, "the denied CONNECT", func(r record) bool {
		return r.str("kind") == "connect" && r.str("reason") == "undeclared_destination" && r.str("host") == "undeclared.test.example"
	})
	waitRecord(t, g, url.Values{"decision": {"deny"}}, "the undeclared port", func(r record) bool {
		return r.str("reason") == "undeclared_port" && r.num("port") == 8081
	})
}

// rawConnect sends a CONNECT and returns the status and Sluice-Reason.
func rawConnect(t testing.TB, proxy, authority string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", proxy, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", authority, authority)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("CONNECT response: %v", err)
	}
	return resp.StatusCode, resp.Header.Get("Sluice-Reason")
}

// An allowed CONNECT to a declared HTTPS port tunnels to the upstream,
// verified by curl with the test CA.
func TestProxyConnectTLS(t *testing.T) {
	ca := newCA(t, "test-ca")
	up := startTLSUpstream(t, ca.issue("secure", false, "secure.test.example"), nil)
	dir := t.TempDir()
	caPath := ca.write(t, dir, "ca")
	g := StartGateway(t, Options{Files: map[string]string{
		"registry/secure.yaml": staticSE("secure", "secure.test.example", 443, "HTTPS", up.Port),
	}})
	status, body, serr, _ := curl(t, "-x", "http://"+g.Proxy, "--cacert", caPath, "https://secure.test.example/hello")
	if status != 200 || !strings.Contains(body, `"tls":true`) {
		t.Fatalf("status %d %s %s", status, body, serr)
	}
	r := waitRecord(t, g, url.Values{"host": {"secure.test.example"}}, "the tunnel", func(r record) bool {
		return r.str("kind") == "connect" && r.num("bytes_received") > 0 && r.str("time_end") != ""
	})
	if r.str("sni") != "secure.test.example" || r.str("decision") != "allow" {
		t.Errorf("record %v", r)
	}
}

// Domain fronting: a CONNECT to a declared host followed by a ClientHello
// for another name is closed and recorded as sni_mismatch.
func TestProxyConnectSNIMismatch(t *testing.T) {
	ca := newCA(t, "test-ca")
	up := startTLSUpstream(t, ca.issue("secure", false, "secure.test.example", "evil.test.example"), nil)
	g := StartGateway(t, Options{Files: map[string]string{
		"registry/secure.yaml": staticSE("secure", "secure.test.example", 443, "HTTPS", up.Port),
	}})
	c, err := net.DialTimeout("tcp", g.Proxy, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "CONNECT secure.test.example:443 HTTP/1.1\r\nHost: secure.test.example:443\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	tc := tls.Client(&bufConn{Conn: c, r: br}, &tls.Config{ServerName: "evil.test.example", RootCAs: ca.Pool})
	if err := tc.Handshake(); err == nil {
		t.Fatal("handshake with a fronted SNI succeeded")
	}
	waitRecord(t, g, url.Values{"decision": {"deny"}}, "sni_mismatch", func(r record) bool {
		return r.str("reason") == "sni_mismatch" && r.str("sni") == "evil.test.example" && r.str("host") == "secure.test.example"
	})
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// Istio's "Egress TLS Origination" task: port 80 with targetPort 443 and
// a SIMPLE DestinationRule turns plain HTTP in into HTTPS out; a wrong SAN
// is a 502 upstream_tls_error; MUTUAL presents the client certificate.
func TestTLSOrigination(t *testing.T) {
	ca := newCA(t, "upstream-ca")
	clientCA := newCA(t, "client-ca")
	dir := t.TempDir()
	caPath := ca.write(t, dir, "ca")
	certPath, keyPath := writePair(t, dir, "client", clientCA.issue("sluice-gw", true, "spiffe://test/ns/sluice/sa/gateway"))
	web := startTLSUpstream(t, ca.issue("web", false, "web.test.example"), nil)
	wrong := startTLSUpstream(t, ca.issue("other", false, "other.test.example"), nil)
	mtls := startTLSUpstream(t, ca.issue("partner", false, "partner.test.example", "nomtls.test.example"), clientCA)
	reg := staticSE("web", "web.test.example", 80, "HTTP", web.Port) +
		staticSE("wrong", "wrong.test.example", 80, "HTTP", wrong.Port) +
		staticSE("partner", "partner.test.example", 80, "HTTP", mtls.Port) +
		staticSE("nomtls", "nomtls.test.example", 80, "HTTP", mtls.Port) + fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: test}
spec:
  host: web.test.example
  trafficPolicy:
    portLevelSettings:
    - port: {number: 80}
      tls: {mode: SIMPLE, caCertificates: %[1]s}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: wrong, namespace: test}
spec:
  host: wrong.test.example
  trafficPolicy:
    tls: {mode: SIMPLE, caCertificates: %[1]s}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: partner, namespace: test}
spec:
  host: partner.test.example
  trafficPolicy:
    tls: {mode: MUTUAL, caCertificates: %[1]s, clientCertificate: %[2]s, privateKey: %[3]s, subjectAltNames: [partner.test.example]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: nomtls, namespace: test}
spec:
  host: nomtls.test.example
  trafficPolicy:
    tls: {mode: SIMPLE, caCertificates: %[1]s}
`, caPath, certPath, keyPath)
	g := StartGateway(t, Options{Files: map[string]string{"registry/all.yaml": reg}})

	status, body, serr, _ := curl(t, "-x", "http://"+g.Proxy, "http://web.test.example/politics")
	if status != 200 || !strings.Contains(body, `"tls":true`) || !strings.Contains(body, `"host":"web.test.example"`) {
		t.Fatalf("SIMPLE origination: %d %s %s", status, body, serr)
	}
	status, body, _, _ = curl(t, "-x", "http://"+g.Proxy, "http://wrong.test.example/", "-D", "-")
	if status != 502 || !strings.Contains(body, "Sluice-Reason: upstream_tls_error") {
		t.Errorf("wrong SAN: %d %s", status, body)
	}
	status, body, _, _ = curl(t, "-x", "http://"+g.Proxy, "http://partner.test.example/ledger")
	if status != 200 || !strings.Contains(body, `"client_cn":"sluice-gw"`) {
		t.Errorf("MUTUAL: %d %s", status, body)
	}
	status, body, _, _ = curl(t, "-x", "http://"+g.Proxy, "http://nomtls.test.example/ledger", "-D", "-")
	if status != 502 || !strings.Contains(body, "Sluice-Reason: upstream_tls_error") {
		t.Errorf("no client certificate: %d %s", status, body)
	}
	waitRecord(t, g, url.Values{"host": {"web.test.example"}}, "originated record", func(r record) bool {
		return r["tls_originated"] == true && r.num("status") == 200 && strings.HasPrefix(r.str("tls_version"), "TLS")
	})
	waitRecord(t, g, url.Values{"host": {"nomtls.test.example"}}, "failed mTLS recorded", func(r record) bool {
		return r.num("status") == 502 && strings.Contains(r.str("error"), "upstream_tls_error")
	})
}

// DNS-steered callers: plain HTTP on the http listener is routed by Host,
// TLS on the tls listener by SNI.
func TestDNSSteeredListeners(t *testing.T) {
	ca := newCA(t, "test-ca")
	plain := startUpstream(t)
	secure := startTLSUpstream(t, ca.issue("s", false, "steered.test.example"), nil)
	dir := t.TempDir()
	caPath := ca.write(t, dir, "ca")
	httpPort := FreePort(t)
	tlsPort := FreePort(t)
	g := StartGateway(t, Options{
		Listeners: map[string]string{"http": "127.0.0.1:" + strconv.Itoa(httpPort), "tls": "127.0.0.1:" + strconv.Itoa(tlsPort)},
		Files: map[string]string{"registry/steered.yaml": staticSE("plain", "steered.test.example", httpPort, "HTTP", plain.Port) +
			staticSE("secure", "steered.test.example", 443, "HTTPS", secure.Port)},
	})
	_ = g
	status, body, serr, _ := curl(t, "--resolve", fmt.Sprintf("steered.test.example:%d:127.0.0.1", httpPort), fmt.Sprintf("http://steered.test.example:%d/a", httpPort))
	if status != 200 || !strings.Contains(body, `"path":"/a"`) {
		t.Errorf("http listener: %d %s %s", status, body, serr)
	}
	status, body, serr, _ = curl(t, "--cacert", caPath, "--resolve", fmt.Sprintf("steered.test.example:%d:127.0.0.1", tlsPort), fmt.Sprintf("https://steered.test.example:%d/b", tlsPort))
	if status != 200 || !strings.Contains(body, `"path":"/b"`) {
		t.Errorf("tls listener: %d %s %s", status, body, serr)
	}
	// An undeclared SNI is closed after the ClientHello, and recorded.
	_, _, _, rc := curl(t, "-k", "--resolve", fmt.Sprintf("nope.test.example:%d:127.0.0.1", tlsPort), fmt.Sprintf("https://nope.test.example:%d/", tlsPort))
	if rc == 0 {
		t.Errorf("undeclared SNI was let through")
	}
	waitRecord(t, g, url.Values{"decision": {"deny"}}, "denied SNI", func(r record) bool {
		return r.str("listener") == "tls" && r.str("host") == "nope.test.example" && r.str("reason") == "undeclared_destination"
	})
}

// Resolved answers may not be private; the same IP declared as a STATIC
// endpoint may.
func TestForbiddenAddresses(t *testing.T) {
	up := startUpstream(t)
	dnsUp := startZoneUpstream(t, "loop.test.example. 60 IN A 127.0.0.1", "rfc1918.test.example. 60 IN A 10.0.0.1", "metadata.test.example. 60 IN A 169.254.169.254")
	reg := staticSE("static", "static.test.example", 80, "HTTP", up.Port)
	for _, h := range []string{"loop", "rfc1918", "metadata"} {
		reg += fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %s, namespace: test}
spec:
  hosts: [%s.test.example]
  resolution: DNS
  ports: [{number: %d, name: http, protocol: HTTP}]
---
`, h, h, up.Port)
	}
	g := StartGateway(t, Options{Config: "dns: {upstreams: [" + dnsUp.Addr + "]}\n",
		Files: map[string]string{"registry/r.yaml": reg}})
	for _, h := range []string{"loop", "rfc1918", "metadata"} {
		status, body, _, _ := curl(t, "-x", "http://"+g.Proxy, fmt.Sprintf("http://%s.test.example:%d/", h, up.Port), "-D", "-")
		if status != 403 || !strings.Contains(body, "Sluice-Reason: forbidden_address") {
			t.Errorf("%s: %d %s", h, status, body)
		}
	}
	status, body, _, _ := curl(t, "-x", "http://"+g.Proxy, "http://static.test.example/")
	if status != 200 {
		t.Errorf("declared STATIC 127.0.0.1: %d %s", status, body)
	}
}

// Go's net/http with HTTPS_PROXY/HTTP_PROXY from the environment and
// Python's urllib with a proxy handler work through the gateway.
func TestOtherClients(t *testing.T) {
	ca := newCA(t, "test-ca")
	plain := startUpstream(t)
	secure := startTLSUpstream(t, ca.issue("s", false, "secure.test.example"), nil)
	g := StartGateway(t, Options{Files: map[string]string{"registry/r.yaml": staticSE("plain", "plain.test.example", 80, "HTTP", plain.Port) +
		staticSE("secure", "secure.test.example", 443, "HTTPS", secure.Port)}})
	t.Setenv("HTTP_PROXY", "http://"+g.Proxy)
	t.Setenv("HTTPS_PROXY", "http://"+g.Proxy)
	t.Setenv("NO_PROXY", "")
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	for _, u := range []string{"http://plain.test.example/go", "https://secure.test.example/go"} {
		resp, err := client.Get(u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", u, resp.StatusCode)
		}
	}
	script := fmt.Sprintf(`import urllib.request
h = urllib.request.ProxyHandler({"http": "http://%s"})
print(urllib.request.build_opener(h).open("http://plain.test.example/python", timeout=10).status)`, g.Proxy)
	out, serr, rc := RunCmd(t, "python3", "-c", script)
	if rc != 0 || strings.TrimSpace(out) != "200" {
		t.Errorf("python urllib: rc %d %s %s", rc, out, serr)
	}
}
