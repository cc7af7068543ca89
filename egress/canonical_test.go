package egress

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/dnsproxy"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/vocab"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/registry"
)

// seenPolicy denies every call and says which host it was asked about.
const seenPolicy = `package sluice.egress

default allow := false

reasons contains sprintf("saw %s", [input.destination.host])
`

const seenRegistry = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: partner, namespace: t}
spec:
  hosts: [partner.test, "*.saas.test", xn--bcher-kva.test]
  ports: [{number: 80, name: http, protocol: HTTP}, {number: 443, name: tls, protocol: TLS}]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vip, namespace: t}
spec:
  hosts: [vip.test]
  addresses: [127.0.0.1]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: NONE
`

// testGateway is a Gateway for in-process pipeline tests: the registry
// and policy given, a resolver that asks nobody.
func testGateway(t testing.TB, reg, rego string) *Gateway {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(reg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "p.rego"), []byte(rego), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := registry.New(registry.Options{Paths: []string{filepath.Join(dir, "r.yaml")}})
	if err := r.Load(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	p, err := policy.New(ctx, policy.Options{Config: cfg.Policy, Paths: []string{filepath.Join(dir, "p.rego")}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Options{Config: cfg, Registry: r, Policy: p, Resolver: dnsproxy.NewResolver(dnsproxy.ResolverOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// spell writes a host the way an attacker might: mixed case, extra dots,
// Unicode dots, percent signs, digits, an IP form.
func spell(r *rand.Rand) string {
	bases := []string{"partner.test", "x.saas.test", "a.b.saas.test", "bücher.test", "xn--bcher-kva.test", "vip.test",
		"127.0.0.1", "127.1", "0x7f.0.0.1", "2130706433", "[::ffff:127.0.0.1]", "partner", "test"}
	h := []rune(bases[r.IntN(len(bases))])
	for n := r.IntN(4); n > 0; n-- {
		i := r.IntN(len(h) + 1)
		ins := []rune{'.', '.', 'A', 'Z', '\uff0e', '\u3002', '%', '-', '_', '0', 'x', ' '}[r.IntN(12)]
		h = slices.Insert(h, i, ins)
	}
	s := string(h)
	if r.IntN(3) == 0 {
		s = strings.ToUpper(s)
	}
	return s
}

// The hardening issue's property: for any request target, Host or SNI,
// the host policy sees equals the host the registry matched equals the
// host recorded — or the call is refused at the edge as bad_request.
func TestPolicyRegistryAndRecordSeeOneHost(t *testing.T) {
	g := testGateway(t, seenRegistry, seenPolicy)
	rng := rand.New(rand.NewPCG(1, 2))
	ctx := context.Background()
	accepted := 0
	for i := 0; i < 3000; i++ {
		raw := spell(rng)
		for _, listener := range []string{vocab.ListenerProxy, vocab.ListenerHTTP} {
			req := &http.Request{Method: "GET", Header: http.Header{}, URL: &url.URL{Path: "/"}, Host: raw, RemoteAddr: "127.0.0.1:1"}
			if listener == vocab.ListenerProxy {
				req.URL = &url.URL{Scheme: "http", Host: raw, Path: "/"}
			}
			c, detail := g.httpCall(listener, req)
			if detail != "" {
				continue // refused at the edge: bad_request
			}
			accepted++
			checkOneHost(t, g, ctx, c, raw)
		}
		// The same spelling as an SNI on the tls listener.
		name, reason, _ := sniCheck(host(t, "partner.test"), raw, nil) // the name comes back whatever it is compared with
		if reason == vocab.BadRequest || name.IsZero() {
			continue
		}
		c := newCall(Request{Listener: vocab.ListenerTLS, Kind: vocab.KindTLS, Port: 443, Host: name, SNI: name.String()})
		accepted++
		checkOneHost(t, g, ctx, c, raw)
	}
	if accepted < 1000 {
		t.Fatalf("only %d of the generated spellings were accepted; the generator is too hostile to test anything", accepted)
	}
}

func checkOneHost(t *testing.T, g *Gateway, ctx context.Context, c *call, raw string) {
	t.Helper()
	g.decide(ctx, c)
	h := c.Host.String()
	in := policyInput(&c.Request, &c.Decision)
	rec := c.record()
	if in.Destination.Host != h || rec.Host != h {
		t.Fatalf("%q: policy input %q, record %q, call %q", raw, in.Destination.Host, rec.Host, h)
	}
	if c.Reason == vocab.PolicyDenied && !slices.Contains(c.PolicyRules, "saw "+h) {
		t.Fatalf("%q: policy reasons %v, want it to have seen %q", raw, c.PolicyRules, h)
	}
	if route, _ := c.Snapshot.Lookup(c.Host, c.Port); route != c.Route {
		t.Fatalf("%q: the registry matched another route than the call's", raw)
	}
	if c.Route != nil && !slices.ContainsFunc(c.Route.Entry.Hosts, func(p string) bool {
		return p == h || (registry.IsWildcard(p) && strings.HasSuffix(h, p[1:]))
	}) && !slices.Contains(c.Route.Entry.Addresses, h) {
		t.Fatalf("%q: matched %s, whose hosts %v do not cover %q", raw, c.Route.Entry.ID(), c.Route.Entry.Hosts, h)
	}
}
