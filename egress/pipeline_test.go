package egress

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/dnsproxy"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/netguard"
	"github.com/sluicehq/sluice/internal/vocab"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/registry"
)

// The whole pipeline in-process: real listeners on loopback, the real
// registry, and fakes for policy, resolver and records. Each test case
// drives one call with net/http (or raw bytes) and checks the answer and
// the record.

// memRecorder keeps records in memory.
type memRecorder struct {
	mu        sync.Mutex
	seq       int
	recs      map[string]*audit.Record // by id, the latest copy
	ended     map[string]bool
	beginErr  error
	denyOnErr bool
	changed   chan struct{}
}

func newMemRecorder() *memRecorder {
	return &memRecorder{recs: map[string]*audit.Record{}, ended: map[string]bool{}, denyOnErr: true, changed: make(chan struct{}, 1)}
}

func (m *memRecorder) store(r *audit.Record, ended bool) {
	m.mu.Lock()
	if r.ID == "" {
		m.seq++
		r.ID = fmt.Sprintf("rec-%04d", m.seq)
	}
	cp := *r
	m.recs[r.ID] = &cp
	m.ended[r.ID] = ended
	m.mu.Unlock()
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

func (m *memRecorder) Begin(_ context.Context, r *audit.Record) error {
	if m.beginErr != nil {
		return m.beginErr
	}
	m.store(r, false)
	return nil
}
func (m *memRecorder) End(r *audit.Record) { m.store(r, true) }
func (m *memRecorder) Complete(_ context.Context, r *audit.Record) error {
	m.store(r, true)
	return nil
}
func (m *memRecorder) OnFailureDeny() bool { return m.denyOnErr }
func (m *memRecorder) Ready() error        { return m.beginErr }

// wait returns the first ended record matching cond, waiting up to 5 s
// (an outcome is written after the response reaches the caller).
func (m *memRecorder) wait(t testing.TB, what string, cond func(*audit.Record) bool) *audit.Record {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		m.mu.Lock()
		for id, r := range m.recs {
			if m.ended[id] && cond(r) {
				m.mu.Unlock()
				return r
			}
		}
		m.mu.Unlock()
		select {
		case <-m.changed:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no record: %s", what)
		}
	}
}

// fakePolicy decides with a function.
type fakePolicy func(in *policy.Input) policy.Decision

func (f fakePolicy) Decide(_ context.Context, in *policy.Input) policy.Decision { return f(in) }

// fakeResolver answers from a map; missing names do not exist.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupIP(_ context.Context, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("resolve %s: %w", host, dnsproxy.ErrNotFound)
}

// pipeline is a started gateway and what the test needs around it.
type pipeline struct {
	g      *Gateway
	rec    *memRecorder
	up     *httptest.Server // plain echo upstream
	tlsUp  *httptest.Server
	caFile string
}

// upstreamEcho answers with what it received; /slow sleeps 3 s.
func upstreamEcho(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/slow" {
		time.Sleep(3 * time.Second)
	}
	if r.URL.Path == "/stream" { // server-sent events: one now, one later
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		time.Sleep(time.Second)
		fmt.Fprint(w, "data: second\n\n")
		return
	}
	b, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s host=%s body=%s tls=%v", r.Method, r.URL.Path, r.Host, b, r.TLS != nil)
}

// startPipeline starts a gateway whose registry declares, against the
// loopback upstreams:
//
//	plain.test:80          HTTP  STATIC → the plain upstream
//	plain.test:5432        TCP   STATIC → the plain upstream
//	secure.test:443        TLS   STATIC → the TLS upstream
//	orig.test:80           HTTP  STATIC → the TLS upstream, TLS originated (SIMPLE, its CA, sni example.com)
//	badtls.test:80         HTTP  STATIC → the TLS upstream, TLS originated without the CA
//	resolved.test:80       HTTP  DNS (the fake resolver)
//	closed.test:80         HTTP  STATIC → a closed port
//	pooled.test:80         HTTP  STATIC → the plain upstream, maxConnections 1, http1MaxPendingRequests 1
func startPipeline(t testing.TB, mutate func(*config.Config), pol Policy, res Resolver) *pipeline {
	t.Helper()
	p := &pipeline{rec: newMemRecorder()}
	p.up = httptest.NewServer(http.HandlerFunc(upstreamEcho))
	t.Cleanup(p.up.Close)
	p.tlsUp = httptest.NewTLSServer(http.HandlerFunc(upstreamEcho))
	t.Cleanup(p.tlsUp.Close)
	dir := t.TempDir()
	p.caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.tlsUp.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	port := func(s *httptest.Server) int { return s.Listener.Addr().(*net.TCPAddr).Port }
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	se := func(name, host string, number int, proto string, target int, res string) string {
		ep := "  endpoints: [{address: 127.0.0.1}]\n"
		if res == "DNS" {
			ep = ""
		}
		return fmt.Sprintf("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: %s, namespace: t}\nspec:\n  hosts: [%s]\n  resolution: %s\n  ports: [{number: %d, name: p, protocol: %s, targetPort: %d}]\n%s---\n",
			name, host, res, number, proto, target, ep)
	}
	reg := se("plain", "plain.test", 80, "HTTP", port(p.up), "STATIC") +
		se("plain-tcp", "plain.test", 5432, "TCP", port(p.up), "STATIC") +
		se("secure", "secure.test", 443, "TLS", port(p.tlsUp), "STATIC") +
		se("orig", "orig.test", 80, "HTTP", port(p.tlsUp), "STATIC") +
		se("badtls", "badtls.test", 80, "HTTP", port(p.tlsUp), "STATIC") +
		se("resolved", "resolved.test", 80, "HTTP", port(p.up), "DNS") +
		se("closed", "closed.test", 80, "HTTP", closedPort, "STATIC") +
		se("pooled", "pooled.test", 80, "HTTP", port(p.up), "STATIC") +
		"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: pooled, namespace: t}\nspec:\n  host: pooled.test\n  trafficPolicy: {connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}}\n---\n" +
		fmt.Sprintf("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: orig, namespace: t}\nspec:\n  host: orig.test\n  trafficPolicy: {tls: {mode: SIMPLE, caCertificates: %s, sni: example.com}}\n---\n", p.caFile) +
		"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: badtls, namespace: t}\nspec:\n  host: badtls.test\n  trafficPolicy: {tls: {mode: SIMPLE}}\n---\n" +
		// routed.test answers /only; routedtcp.test only tunnels to 192.0.2.0/24.
		se("routed", "routed.test", 80, "HTTP", port(p.up), "STATIC") +
		"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: routed, namespace: t}\nspec:\n  hosts: [routed.test]\n  http: [{match: [{uri: {prefix: /only}}], route: [{destination: {host: routed.test}}]}]\n---\n" +
		se("routedtcp", "routedtcp.test", 5432, "TCP", port(p.up), "STATIC") +
		"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: routedtcp, namespace: t}\nspec:\n  hosts: [routedtcp.test]\n  tcp: [{match: [{destinationSubnets: [192.0.2.0/24]}], route: [{destination: {host: routedtcp.test}}]}]\n"
	if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(reg), 0o644); err != nil {
		t.Fatal(err)
	}
	r := registry.New(registry.Options{Paths: []string{filepath.Join(dir, "r.yaml")}})
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Listeners = config.Listeners{Proxy: "127.0.0.1:0", HTTP: "127.0.0.1:0", TLS: "127.0.0.1:0"}
	if mutate != nil {
		mutate(cfg)
	}
	if pol == nil {
		pol = fakePolicy(func(*policy.Input) policy.Decision { return policy.Decision{Allow: true, Enforced: true} })
	}
	if res == nil {
		res = fakeResolver{}
	}
	guard, err := netguard.NewGuard(nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Options{Config: cfg, Registry: r, Policy: pol, Auditor: p.rec, Resolver: res, Guard: guard})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = g.Shutdown(sctx)
		cancel()
	})
	p.g = g
	return p
}

// client sends through the proxy listener; header adds request headers.
func (p *pipeline) get(t *testing.T, method, rawURL string, header http.Header) (*http.Response, string) {
	t.Helper()
	proxy, _ := url.Parse("http://" + p.g.Addr(vocab.ListenerProxy))
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), DisableKeepAlives: true}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest(method, rawURL, strings.NewReader(""))
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// reasonIs matches an ended record by host and reason.
func reasonIs(host string, reason vocab.Reason) func(*audit.Record) bool {
	return func(r *audit.Record) bool { return r.Host == host && r.Reason == string(reason) }
}

func TestPipelineAllowsADeclaredCall(t *testing.T) {
	p := startPipeline(t, nil, nil, nil)
	resp, body := p.get(t, "GET", "http://plain.test/hello", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "GET /hello host=plain.test") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	r := p.rec.wait(t, "the allowed call", func(r *audit.Record) bool { return r.Host == "plain.test" })
	if r.Decision != vocab.DecisionAllow || r.Status != 200 || r.ServiceEntry != "t/plain" || r.Port != 80 || r.BytesReceived == 0 ||
		r.DialedIP != "127.0.0.1" || r.Listener != vocab.ListenerProxy || r.Kind != vocab.KindHTTP {
		t.Errorf("record %+v", r)
	}
	if resp.Header.Get("Sluice-Request-Id") != r.ID {
		t.Errorf("Sluice-Request-Id %q, record %q", resp.Header.Get("Sluice-Request-Id"), r.ID)
	}
}

// Every reason code of the vocabulary, provoked through the pipeline.
func TestPipelineEveryReason(t *testing.T) {
	denyPOST := fakePolicy(func(in *policy.Input) policy.Decision {
		switch {
		case in.Destination.Host == "plain.test" && in.Request.Method == "POST":
			return policy.Decision{Reasons: []string{"read-only"}, Enforced: true}
		case in.Request.Path == "/policy-error":
			return policy.Decision{Error: errors.New("eval: undefined"), Enforced: true}
		}
		return policy.Decision{Allow: true, Enforced: true}
	})
	res := fakeResolver{"resolved.test": {netip.MustParseAddr("127.0.0.1")}}
	p := startPipeline(t, func(c *config.Config) { c.Limits.RequestTimeout = config.Duration(1500 * time.Millisecond) }, denyPOST, res)
	proxy := p.g.Addr(vocab.ListenerProxy)
	seen := map[vocab.Reason]bool{}
	expect := func(status int, got *http.Response, host string, reason vocab.Reason) {
		t.Helper()
		if got.StatusCode != status || got.Header.Get("Sluice-Reason") != string(reason) {
			t.Errorf("%s: %d %q, want %d %s", reason, got.StatusCode, got.Header.Get("Sluice-Reason"), status, reason)
		}
		p.rec.wait(t, string(reason), reasonIs(host, reason))
		seen[reason] = true
	}
	resp, _ := p.get(t, "GET", "http://undeclared.test/", nil)
	expect(403, resp, "undeclared.test", vocab.UndeclaredDestination)
	resp, _ = p.get(t, "GET", "http://plain.test:8080/", nil)
	expect(403, resp, "plain.test", vocab.UndeclaredPort)
	resp, _ = p.get(t, "POST", "http://plain.test/", nil)
	expect(403, resp, "plain.test", vocab.PolicyDenied)
	resp, _ = p.get(t, "GET", "http://plain.test/policy-error", nil)
	expect(403, resp, "plain.test", vocab.PolicyError)
	resp, _ = p.get(t, "GET", "http://resolved.test/", nil) // resolves to loopback
	expect(403, resp, "resolved.test", vocab.ForbiddenAddress)
	resp, _ = p.get(t, "GET", "http://closed.test/", nil)
	expect(502, resp, "closed.test", vocab.UpstreamUnreachable)
	if r := p.rec.wait(t, "unreachable", reasonIs("closed.test", vocab.UpstreamUnreachable)); r.BytesReceived != 0 || r.Decision != vocab.DecisionAllow {
		t.Errorf("a failed call counts the gateway's own error body, or is called a denial: %+v", r)
	}
	resp, _ = p.get(t, "GET", "http://badtls.test/", nil)
	expect(502, resp, "badtls.test", vocab.UpstreamTLSError)
	resp, _ = p.get(t, "GET", "http://plain.test/slow", nil)
	expect(504, resp, "plain.test", vocab.UpstreamTimeout)

	// upstream_overflow: one call in the pool, one pending, the third
	// refused.
	slow := make(chan struct{}, 2)
	for range 2 {
		go func() {
			_, _ = p.get(t, "GET", "http://pooled.test/slow", nil)
			slow <- struct{}{}
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if st := p.g.Upstreams(); len(st) == 1 && st[0].InUse == 1 && st[0].Pending == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool never filled: %+v", p.g.Upstreams())
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, _ = p.get(t, "GET", "http://pooled.test/", nil)
	expect(503, resp, "pooled.test", vocab.UpstreamOverflow)
	<-slow
	<-slow

	// dns_failure: the fake resolver knows nothing else.
	p2 := startPipeline(t, nil, nil, nil)
	resp, _ = p2.get(t, "GET", "http://resolved.test/", nil)
	if resp.StatusCode != 502 || resp.Header.Get("Sluice-Reason") != string(vocab.DNSFailure) {
		t.Errorf("dns_failure: %d %s", resp.StatusCode, resp.Header.Get("Sluice-Reason"))
	}
	p2.rec.wait(t, "dns_failure", reasonIs("resolved.test", vocab.DNSFailure))
	seen[vocab.DNSFailure] = true

	// bad_request: a host that is not a host name.
	st, reason := rawRequest(t, proxy, "GET http://plain..test/ HTTP/1.1\r\nHost: x\r\n\r\n")
	if st != 400 || reason != string(vocab.BadRequest) {
		t.Errorf("bad_request: %d %s", st, reason)
	}
	p.rec.wait(t, "bad_request", func(r *audit.Record) bool { return r.Reason == string(vocab.BadRequest) })
	seen[vocab.BadRequest] = true

	// no_route: a VirtualService applies and none of its rules matches,
	// for a request and for a tunnel; a matching request goes through.
	if resp, _ := p.get(t, "GET", "http://routed.test/only/x", nil); resp.StatusCode != 200 {
		t.Errorf("routed request: %d", resp.StatusCode)
	}
	resp, _ = p.get(t, "GET", "http://routed.test/other", nil)
	if resp.StatusCode != 404 || resp.Header.Get("Sluice-Reason") != string(vocab.NoRoute) {
		t.Errorf("no_route: %d %s", resp.StatusCode, resp.Header.Get("Sluice-Reason"))
	}
	p.rec.wait(t, "no_route", func(r *audit.Record) bool {
		return r.Host == "routed.test" && r.Reason == string(vocab.NoRoute) && r.Decision == vocab.DecisionDeny && r.Status == 404
	})
	if st, reason := rawRequest(t, proxy, "CONNECT routedtcp.test:5432 HTTP/1.1\r\nHost: routedtcp.test:5432\r\n\r\n"); st != 404 || reason != string(vocab.NoRoute) {
		t.Errorf("no_route tunnel: %d %s", st, reason)
	}
	p.rec.wait(t, "no_route tunnel", reasonIs("routedtcp.test", vocab.NoRoute))
	seen[vocab.NoRoute] = true

	// sni_mismatch: CONNECT to a TLS port with another name in the hello.
	c := connectTo(t, proxy, "secure.test:443")
	tc := tls.Client(c, &tls.Config{ServerName: "other.test", InsecureSkipVerify: true})
	if err := tc.Handshake(); err == nil {
		t.Error("a fronted handshake succeeded")
	}
	c.Close()
	p.rec.wait(t, "sni_mismatch", reasonIs("secure.test", vocab.SNIMismatch))
	seen[vocab.SNIMismatch] = true

	// host_mismatch: CONNECT to an HTTP port, another Host inside.
	c = connectTo(t, proxy, "plain.test:80")
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: other.test\r\n\r\n")
	inner, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || inner.Header.Get("Sluice-Reason") != string(vocab.HostMismatch) {
		t.Errorf("host_mismatch: %v %v", inner, err)
	}
	c.Close()
	p.rec.wait(t, "host_mismatch", reasonIs("plain.test", vocab.HostMismatch))
	seen[vocab.HostMismatch] = true

	// identity_required.
	p3 := startPipeline(t, func(c *config.Config) { c.Identity.Required = true }, nil, nil)
	resp, _ = p3.get(t, "GET", "http://plain.test/", nil)
	expect2 := resp.StatusCode == 403 && resp.Header.Get("Sluice-Reason") == string(vocab.IdentityRequired)
	if !expect2 {
		t.Errorf("identity_required: %d %s", resp.StatusCode, resp.Header.Get("Sluice-Reason"))
	}
	p3.rec.wait(t, "identity_required", reasonIs("plain.test", vocab.IdentityRequired))
	seen[vocab.IdentityRequired] = true

	// audit_unavailable: the store refuses, on_failure deny.
	p4 := startPipeline(t, nil, nil, nil)
	p4.rec.beginErr = errors.New("disk full")
	resp, _ = p4.get(t, "GET", "http://plain.test/", nil)
	if resp.StatusCode != 503 || resp.Header.Get("Sluice-Reason") != string(vocab.AuditUnavailable) {
		t.Errorf("audit_unavailable: %d %s", resp.StatusCode, resp.Header.Get("Sluice-Reason"))
	}
	seen[vocab.AuditUnavailable] = true

	for _, r := range vocab.Reasons() {
		if !seen[r] {
			t.Errorf("reason %s has no pipeline test", r)
		}
	}
}

func TestPipelineReportModes(t *testing.T) {
	wouldDeny := fakePolicy(func(in *policy.Input) policy.Decision {
		return policy.Decision{Allow: true, Enforced: false, Reasons: []string{"would deny"}}
	})
	p := startPipeline(t, func(c *config.Config) { c.Registry.Mode = "report" }, wouldDeny, fakeResolver{"nowhere.test": nil})
	resp, _ := p.get(t, "GET", "http://plain.test/", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("policy report mode: %d", resp.StatusCode)
	}
	r := p.rec.wait(t, "reported policy denial", reasonIs("plain.test", vocab.PolicyDenied))
	if r.Decision != vocab.DecisionDeny || r.Enforced || r.Status != 200 {
		t.Errorf("reported policy denial %+v", r)
	}
	p.get(t, "GET", "http://nowhere.test/", nil) // undeclared: let through, then fails to resolve
	r = p.rec.wait(t, "reported undeclared", reasonIs("nowhere.test", vocab.UndeclaredDestination))
	if r.Decision != vocab.DecisionDeny || r.Enforced {
		t.Errorf("reported undeclared %+v", r)
	}
}

func TestPipelineIdentitySources(t *testing.T) {
	p := startPipeline(t, func(c *config.Config) {
		c.Identity.TrustXFCCFrom = []string{"127.0.0.1/32"}
	}, nil, nil)
	tests := []struct {
		header http.Header
		id     string
		source string
	}{
		{nil, "", vocab.IdentityNone},
		{http.Header{"Proxy-Authorization": {"Basic dXNlcjE6eA=="}}, "user1", vocab.IdentityProxyAuth},
		{http.Header{"X-Forwarded-Client-Cert": {`By=spiffe://gw;URI=spiffe://cluster.local/ns/shop/sa/checkout`}}, "spiffe://cluster.local/ns/shop/sa/checkout", vocab.IdentityXFCC},
	}
	for i, tc := range tests {
		path := "/id" + strconv.Itoa(i)
		if resp, _ := p.get(t, "GET", "http://plain.test"+path, tc.header); resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		r := p.rec.wait(t, path, func(r *audit.Record) bool { return r.Path == path })
		if r.SourceIdentity != tc.id || r.IdentitySource != tc.source {
			t.Errorf("%s: identity %q (%s), want %q (%s)", path, r.SourceIdentity, r.IdentitySource, tc.id, tc.source)
		}
	}
	// identity.sources names the workload of a CIDR.
	p2 := startPipeline(t, func(c *config.Config) {
		c.Identity.Sources = []config.Source{{CIDR: "127.0.0.0/8", Workload: "tests"}}
	}, nil, nil)
	p2.get(t, "GET", "http://plain.test/cidr", nil)
	r := p2.rec.wait(t, "cidr", func(r *audit.Record) bool { return r.Path == "/cidr" })
	if r.SourceIdentity != "tests" || r.IdentitySource != vocab.IdentityCIDR || r.SourceWorkload != "tests" {
		t.Errorf("cidr identity %+v", r)
	}
}

func TestPipelineTLSOriginationAndListeners(t *testing.T) {
	p := startPipeline(t, nil, nil, nil)
	resp, body := p.get(t, "GET", "http://orig.test/o", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "tls=true") {
		t.Fatalf("TLS origination: %d %s", resp.StatusCode, body)
	}
	r := p.rec.wait(t, "originated", func(r *audit.Record) bool { return r.Host == "orig.test" })
	if !r.TLSOriginated || r.TLSVersion == "" {
		t.Errorf("record %+v", r)
	}
	// The http listener routes by Host.
	c := &http.Client{Timeout: 5 * time.Second}
	req, _ := http.NewRequest("GET", "http://"+p.g.Addr(vocab.ListenerHTTP)+"/steered", nil)
	req.Host = "plain.test"
	hr, err := c.Do(req)
	if err != nil || hr.StatusCode != 200 {
		t.Fatalf("http listener: %v %v", hr, err)
	}
	hr.Body.Close()
	r = p.rec.wait(t, "http listener", func(r *audit.Record) bool { return r.Path == "/steered" })
	if r.Listener != vocab.ListenerHTTP || r.Host != "plain.test" || r.Port != 80 {
		t.Errorf("record %+v", r)
	}
	// The tls listener splices by SNI (secure.test is declared on 443).
	conn, err := tls.Dial("tcp", p.g.Addr(vocab.ListenerTLS), &tls.Config{ServerName: "secure.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("tls listener: %v", err)
	}
	fmt.Fprint(conn, "GET /spliced HTTP/1.1\r\nHost: secure.test\r\nConnection: close\r\n\r\n")
	b, _ := io.ReadAll(conn)
	conn.Close()
	if !strings.Contains(string(b), "GET /spliced") {
		t.Errorf("through the tls listener: %q", b)
	}
	r = p.rec.wait(t, "tls listener", func(r *audit.Record) bool { return r.Listener == vocab.ListenerTLS })
	if r.Host != "secure.test" || r.SNI != "secure.test" || r.Decision != vocab.DecisionAllow || r.BytesReceived == 0 {
		t.Errorf("record %+v", r)
	}
	// A CONNECT to a TCP port is spliced.
	cc := connectTo(t, p.g.Addr(vocab.ListenerProxy), "plain.test:5432")
	fmt.Fprint(cc, "GET /tcp HTTP/1.1\r\nHost: plain.test\r\nConnection: close\r\n\r\n")
	b, _ = io.ReadAll(cc)
	cc.Close()
	if !strings.Contains(string(b), "GET /tcp") {
		t.Errorf("through a TCP tunnel: %q", b)
	}
	p.rec.wait(t, "tcp tunnel", func(r *audit.Record) bool { return r.Kind == vocab.KindConnect && r.Port == 5432 && r.Status == 200 })
}

// rawRequest sends raw bytes and returns the status and Sluice-Reason.
func rawRequest(t testing.TB, addr, req string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(c, req)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Sluice-Reason")
}

// connectTo opens a CONNECT tunnel through the proxy listener.
func connectTo(t testing.TB, proxy, authority string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", proxy, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", authority, authority)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT %s: %v %v", authority, resp, err)
	}
	if br.Buffered() > 0 {
		t.Fatalf("CONNECT %s: bytes after the 200", authority)
	}
	return c
}
