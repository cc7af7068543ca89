package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// VirtualService tls and tcp routes for passthrough traffic, and the
// 404 no_route of a destination whose VirtualService matches nothing.

// startTLSTrio starts three TLS servers (a certificate for tls.example)
// on 127.0.0.1-3, one port, answering ep1..ep3, and returns the port.
func startTLSTrio(t *testing.T) int {
	t.Helper()
	cert := newCA(t, "trio").issue("tls.example", false, "tls.example")
	lns, port := listenTrio(t)
	for i, ln := range lns {
		name := fmt.Sprintf("ep%d", i+1)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, name) })}
		go srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}}))
		t.Cleanup(func() { srv.Close() })
	}
	return port
}

// labelledSE declares host on one port (protocol) over the three
// endpoints, ep1 version v1, ep2 and ep3 v2, with subsets v1 and v2.
func labelledSE(name, host string, number int, protocol string, target int) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %s, namespace: test}
spec:
  hosts: [%s]
  resolution: STATIC
  ports: [{number: %d, name: p, protocol: %s, targetPort: %d}]
  endpoints:
  - {address: 127.0.0.1, labels: {version: v1}}
  - {address: 127.0.0.2, labels: {version: v2}}
  - {address: 127.0.0.3, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: %s, namespace: test}
spec:
  host: %s
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
`, name, host, number, protocol, target, name, host)
}

// tlsWho sends a GET over TLS (SNI tls.example) on c and returns the body.
func tlsWho(t *testing.T, c net.Conn) string {
	t.Helper()
	tc := tls.Client(c, &tls.Config{ServerName: "tls.example", InsecureSkipVerify: true})
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(tc, "GET / HTTP/1.1\r\nHost: tls.example\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestVirtualServiceTLSAndTCPRoutes(t *testing.T) {
	_, port := startTrio(t)
	tlsPort := startTLSTrio(t)
	reg := labelledSE("db", "db.example", 5432, "TCP", port) +
		vsYAML("db", "  hosts: [db.example]\n  tcp:\n  - match: [{port: 5432}]\n    route: [{destination: {host: db.example, subset: v1}, weight: 50}, {destination: {host: db.example, subset: v2}, weight: 50}]\n") +
		labelledSE("tlsdb", "tls.example", 443, "TLS", tlsPort) +
		vsYAML("tlsdb", "  hosts: [tls.example]\n  tls:\n  - match: [{sniHosts: [tls.example], port: 443}]\n    route: [{destination: {host: tls.example, subset: v2}}]\n") +
		labelledSE("nowhere", "nowhere.example", 5432, "TCP", port) +
		vsYAML("nowhere", "  hosts: [nowhere.example]\n  tcp: [{match: [{destinationSubnets: [192.0.2.0/24]}], route: [{destination: {host: nowhere.example}}]}]\n") +
		labelledTrioSE("api", "api.example", port) +
		vsYAML("api", "  hosts: [api.example]\n  http: [{name: v1api, match: [{uri: {prefix: /v1/}}], route: [{destination: {host: api.example}}]}]\n")
	g := StartGateway(t, Options{Files: map[string]string{"registry/r.yaml": reg}})

	t.Run("a weighted tcp route splits tunnels between two subsets", func(t *testing.T) {
		got := map[string]int{}
		for range 40 {
			c, st := openTunnel(t, g, "db.example:5432")
			if st != 200 {
				t.Fatalf("tunnel: %d", st)
			}
			got[whoAnswers(t, c)]++
			c.Close()
		}
		v1, v2 := got["ep1"], got["ep2"]+got["ep3"]
		if v1 < 8 || v2 < 8 || v1+v2 != 40 {
			t.Fatalf("50/50 over 40 tunnels: %v", got)
		}
		Eventually(t, 10*time.Second, "40 routed tunnel records", func() bool {
			n := 0
			for _, r := range records(t, g, url.Values{"host": {"db.example"}}) {
				if r.str("route") == "test/db#tcp[0]" && (r.str("subset") == "v1" || r.str("subset") == "v2") && r.num("attempts") == 1 {
					n++
				}
			}
			return n == 40
		})
	})

	t.Run("a tls route sends CONNECT and the tls listener to its subset by SNI", func(t *testing.T) {
		for range 6 {
			c, st := openTunnel(t, g, "tls.example:443")
			if st != 200 {
				t.Fatalf("tunnel: %d", st)
			}
			if who := tlsWho(t, c); who != "ep2" && who != "ep3" {
				t.Fatalf("CONNECT went to %s, not subset v2", who)
			}
			c.Close()
			c, err := net.Dial("tcp", g.TLS)
			if err != nil {
				t.Fatal(err)
			}
			if who := tlsWho(t, c); who != "ep2" && who != "ep3" {
				t.Fatalf("the tls listener went to %s, not subset v2", who)
			}
			c.Close()
		}
		waitRecord(t, g, url.Values{"host": {"tls.example"}}, "a tls-routed record of the tls listener", func(r record) bool {
			return r.str("listener") == "tls" && r.str("route") == "test/tlsdb#tls[0]" && r.str("subset") == "v2" && r.num("status") == 200
		})
	})

	t.Run("a tunnel no tcp rule matches is 404 no_route, on record", func(t *testing.T) {
		c, st := openTunnel(t, g, "nowhere.example:5432")
		c.Close()
		if st != 404 {
			t.Fatalf("CONNECT: %d, want 404", st)
		}
		waitRecord(t, g, url.Values{"host": {"nowhere.example"}}, "the refused tunnel", func(r record) bool {
			return r.str("reason") == "no_route" && r.str("decision") == "deny" && r.num("status") == 404
		})
	})

	t.Run("a request no http rule matches is 404 no_route, on record and counted", func(t *testing.T) {
		c := proxyClient(g)
		if st, body, _ := call(t, c, "http://api.example/v1/x", ""); st != 200 {
			t.Fatalf("routed request: %d %s", st, body)
		}
		st, _, reason := call(t, c, "http://api.example/other", "")
		if st != 404 || reason != "no_route" {
			t.Fatalf("got %d %s, want 404 no_route", st, reason)
		}
		waitRecord(t, g, url.Values{"host": {"api.example"}}, "the unrouted request", func(r record) bool {
			return r.str("reason") == "no_route" && r.str("decision") == "deny" && r.num("status") == 404 && r.str("path") == "/other"
		})
		_, metrics := g.AdminGet("/metrics")
		if !strings.Contains(string(metrics), `reason="no_route"`) {
			t.Errorf("no_route not counted:\n%s", grepLines(string(metrics), "sluice_requests_total"))
		}
	})
}

// TestCheckShowsTheTunnelRoute: `sluice check` shows a tunnel's tcp
// rule and subset, and answers no_route where no rule matches.
func TestCheckShowsTheTunnelRoute(t *testing.T) {
	dir := t.TempDir()
	WriteFile(t, dir+"/sluice.yaml", "registry: {paths: [registry]}\npolicy: {paths: []}\n")
	WriteFile(t, dir+"/registry/r.yaml", labelledSE("db", "db.example", 5432, "TCP", 6000)+
		vsYAML("db", "  hosts: [db.example]\n  tcp: [{match: [{port: 5432}], route: [{destination: {host: db.example, subset: v1}}]}]\n")+
		labelledTrioSE("api", "api.example", 8080)+
		vsYAML("api", "  hosts: [api.example]\n  http: [{name: v1api, match: [{uri: {prefix: /v1/}}], route: [{destination: {host: api.example}}]}]\n"))
	out, code := RunSluice(t, dir, "check", "-c", "sluice.yaml", "--url", "https://db.example:5432")
	if code != 0 || !strings.Contains(out, "route:         test/db#tcp[0] (VirtualService test/db)") || !strings.Contains(out, "subset:        v1") ||
		!strings.Contains(out, "endpoint now:  127.0.0.1:6000") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	out, code = RunSluice(t, dir, "check", "-c", "sluice.yaml", "--url", "http://api.example/other")
	if code != 2 || !strings.Contains(out, "no_route") {
		t.Fatalf("exit %d, want 2 and no_route:\n%s", code, out)
	}
}
