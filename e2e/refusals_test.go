package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// staticAt declares host:port (protocol) with one STATIC endpoint at addr
// dialled on target.
func staticAt(name, host string, port int, protocol, addr string, target int) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %s, namespace: test}
spec:
  hosts: [%s]
  resolution: STATIC
  ports:
  - {number: %d, name: p%d, protocol: %s, targetPort: %d}
  endpoints:
  - address: "%s"
---
`, name, host, port, port, protocol, target, addr)
}

// localIPv4 is a non-loopback address of this host, if it has one.
func localIPv4(t testing.TB) (string, bool) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() {
			return p.Addr().String(), true
		}
	}
	return "", false
}

// The gateway never reaches itself, however its address is spelled: the
// unspecified addresses, the rest of 127/8, IPv4-mapped loopback and the
// host's own interface address all reach the admin listener, so a
// ServiceEntry declaring them on a port of the gateway is refused with
// forbidden_address, and the record says deny.
func TestSelfAddressGuard(t *testing.T) {
	adminPort := FreePort(t)
	self := map[string]string{"zero4": "0.0.0.0", "zero6": "::", "lo2": "127.0.0.2", "lo6": "::1", "mapped": "::ffff:127.0.0.1"}
	if ip, ok := localIPv4(t); ok {
		self["iface"] = ip
	}
	var reg string
	for name, addr := range self {
		reg += staticAt(name, name+".self.test", 80, "HTTP", addr, adminPort)
		reg += staticAt(name+"-tcp", name+".self.test", 5432, "TCP", addr, adminPort)
	}
	g := StartGateway(t, Options{
		Listeners: map[string]string{"admin": "127.0.0.1:" + strconv.Itoa(adminPort)},
		Files:     map[string]string{"registry/self.yaml": reg},
	})
	for name := range self {
		status, body, _, _ := curl(t, "-x", "http://"+g.Proxy, "http://"+name+".self.test/v1/registry", "-D", "-")
		if status != 403 || !strings.Contains(body, "Sluice-Reason: forbidden_address") {
			t.Errorf("%s via HTTP: %d %s", name, status, body)
		}
		if status, reason := rawConnect(t, g.Proxy, name+".self.test:5432"); status != 403 || reason != "forbidden_address" {
			t.Errorf("%s via CONNECT: %d %s", name, status, reason)
		}
	}
	recs, out := deniedRecords(t, g)
	n := 0
	for _, r := range recs {
		if r.str("reason") == "forbidden_address" && r.str("decision") == "deny" && strings.HasSuffix(r.str("host"), ".self.test") {
			n++
		}
	}
	if n != 2*len(self) {
		t.Errorf("%d forbidden_address denials on record, want %d\n%s", n, 2*len(self), out)
	}
}

// A name that resolves to a forbidden address is refused on every
// listener, not only for plain HTTP: CONNECT to a TCP port, CONNECT to a
// TLS port, and the tls listener. Each refusal is a deny record.
func TestForbiddenAfterDNSOnEveryListener(t *testing.T) {
	up := startUpstream(t)
	dnsUp := startZoneUpstream(t, "loop.test.example. 60 IN A 127.0.0.1", "meta.test.example. 60 IN A 169.254.169.254")
	reg := ""
	for _, h := range []string{"loop", "meta"} {
		reg += fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %s, namespace: test}
spec:
  hosts: [%s.test.example]
  resolution: DNS
  ports:
  - {number: 5432, name: pg, protocol: TCP, targetPort: %d}
  - {number: 443, name: https, protocol: HTTPS, targetPort: %d}
---
`, h, h, up.Port, up.Port)
	}
	g := StartGateway(t, Options{Config: "dns: {upstreams: [" + dnsUp.Addr + "]}\n", Files: map[string]string{"registry/r.yaml": reg}})
	for _, h := range []string{"loop", "meta"} {
		for _, port := range []int{5432, 443} {
			if status, reason := rawConnect(t, g.Proxy, fmt.Sprintf("%s.test.example:%d", h, port)); status != 403 || reason != "forbidden_address" {
				t.Errorf("CONNECT %s:%d: %d %s", h, port, status, reason)
			}
		}
		sendClientHello(t, g.TLS, h+".test.example")
	}
	recs, out := deniedRecords(t, g)
	got := map[string]int{}
	for _, r := range recs {
		if r.str("reason") == "forbidden_address" {
			got[r.str("listener")+"/"+r.str("kind")]++
		}
	}
	if got["proxy/connect"] != 4 || got["tls/tls"] != 2 {
		t.Errorf("forbidden_address records by listener/kind: %v\n%s", got, out)
	}
}

// Domain fronting towards another declared host: a CONNECT to one
// declared TLS destination whose ClientHello names another declared one is
// refused as sni_mismatch (each is allowed on its own).
func TestFrontingToAnotherDeclaredHost(t *testing.T) {
	ca := newCA(t, "test-ca")
	up := startTLSUpstream(t, ca.issue("s", false, "a.front.test", "b.front.test"), nil)
	g := StartGateway(t, Options{Files: map[string]string{"registry/r.yaml": staticSE("a", "a.front.test", 443, "TLS", up.Port) +
		staticSE("b", "b.front.test", 443, "TLS", up.Port)}})
	dir := t.TempDir()
	caPath := ca.write(t, dir, "ca")
	for _, h := range []string{"a.front.test", "b.front.test"} {
		if status, _, serr, _ := curl(t, "-x", "http://"+g.Proxy, "--cacert", caPath, "https://"+h+"/"); status != 200 {
			t.Fatalf("%s on its own: %d %s", h, status, serr)
		}
	}
	// curl's --connect-to sends CONNECT a.front.test:443 with SNI b.front.test.
	status, _, _, rc := curl(t, "-x", "http://"+g.Proxy, "--cacert", caPath, "--connect-to", "b.front.test:443:a.front.test:443", "https://b.front.test/")
	if rc == 0 && status == 200 {
		t.Fatal("fronting from a.front.test to b.front.test went through")
	}
	waitRecord(t, g, url.Values{"decision": {"deny"}}, "the fronting attempt", func(r record) bool {
		return r.str("reason") == "sni_mismatch" && r.str("host") == "a.front.test" && r.str("sni") == "b.front.test"
	})
}

// Requests that net/http refuses before any handler runs still get a
// record: bad_request, with the status the caller got, the source, and
// the target as far as it was parsed. Identical ones are folded with a
// count, so nothing is lost and a flood is one record.
func TestServerRefusalsAreRecorded(t *testing.T) {
	up := startUpstream(t)
	g := StartGateway(t, Options{
		Config: "limits: {max_header_bytes: 4096, drain_timeout: 5s}\n",
		Files:  map[string]string{"registry/r.yaml": staticSE("ok", "ok.test.example", up.Port, "HTTP", up.Port)},
	})
	p := up.Port
	cases := []struct {
		name, addr, req string
		status          int
	}{
		{"two Host headers", g.HTTP, fmt.Sprintf("GET / HTTP/1.1\r\nHost: ok.test.example:%d\r\nHost: other.test\r\n\r\n", p), 400},
		{"conflicting Content-Length", g.Proxy, fmt.Sprintf("POST http://ok.test.example:%d/ HTTP/1.1\r\nHost: ok.test.example\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", p), 400},
		{"malformed CONNECT authority", g.Proxy, "CONNECT [::1 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"percent-encoded host", g.Proxy, fmt.Sprintf("GET http://ok%%2etest%%2eexample:%d/ HTTP/1.1\r\nHost: x\r\n\r\n", p), 400},
		{"no Host", g.HTTP, "GET / HTTP/1.1\r\n\r\n", 400},
		{"headers too large", g.Proxy, fmt.Sprintf("GET http://ok.test.example:%d/ HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", p, strings.Repeat("a", 20000)), 431},
	}
	for _, c := range cases {
		if status, _ := rawHTTP(t, c.addr, c.req); status != c.status {
			t.Errorf("%s: %d, want %d", c.name, status, c.status)
		}
	}
	// The same refusal five more times: folded into a count.
	for range 5 {
		rawHTTP(t, g.HTTP, "GET / HTTP/1.1\r\n\r\n")
	}
	g.Stop() // writes the folded counts
	recs, out := queryRecords(t, g, "-c", g.Config, "--decision", "deny")
	total, big := 0, false
	for _, r := range recs {
		if r.str("reason") != "bad_request" || r.str("source_ip") != "127.0.0.1" {
			t.Errorf("unexpected record %v", r)
			continue
		}
		total += max(int(r.num("count")), 1)
		if r.num("status") == 431 && r.str("host") == "ok.test.example" && r.num("port") == float64(p) {
			big = true
		}
	}
	if total != len(cases)+5 {
		t.Errorf("%d refusals on record, want %d\n%s", total, len(cases)+5, out)
	}
	if !big {
		t.Errorf("no 431 record naming ok.test.example:%d\n%s", p, out)
	}
}

// A request body sent at a crawl (1 byte every 300 ms against
// min_body_rate 64 B/s after body_timeout 1s) is cut, answered, and
// recorded as bad_request: it cannot hold a connection for as long as the
// caller likes.
func TestSlowRequestBodyIsCut(t *testing.T) {
	up := startUpstream(t)
	g := StartGateway(t, Options{
		Config: "limits: {body_timeout: 1s, min_body_rate: 64, drain_timeout: 5s}\n",
		Files:  map[string]string{"registry/r.yaml": staticSE("ok", "ok.test.example", up.Port, "HTTP", up.Port)},
	})
	c, err := net.DialTimeout("tcp", g.Proxy, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	fmt.Fprintf(c, "POST http://ok.test.example:%d/slow HTTP/1.1\r\nHost: ok.test.example\r\nContent-Length: 1000\r\n\r\n", up.Port)
	cut := make(chan struct{})
	go func() {
		defer close(cut)
		buf := make([]byte, 4096)
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < 1000; i++ {
		select {
		case <-cut:
			i = 1000
		case <-tick.C:
			_, _ = c.Write([]byte("x"))
		}
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("a 1000-byte body at ~3 B/s held the call for %s", d)
	}
	waitRecord(t, g, url.Values{"host": {"ok.test.example"}}, "the cut call", func(r record) bool {
		return r.str("path") == "/slow" && r.str("reason") == "bad_request" && strings.Contains(r.str("error"), "body")
	})
}
