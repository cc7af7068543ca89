package egress

import (
	"context"
	"net/http"
	"net/netip"
	"testing"

	"github.com/sluicehq/sluice/internal/canon"
	"github.com/sluicehq/sluice/internal/lb"
	"github.com/sluicehq/sluice/registry"
)

// benchRoute is a declared host with three STATIC endpoints (two
// subsets), a DestinationRule policy and a VirtualService with a header
// match, a URI match and a weighted split.
func benchRoute(b *testing.B) *registry.Route {
	b.Helper()
	const reg = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: b}
spec:
  hosts: [api.example.com]
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, labels: {v: a}}, {address: 127.0.0.2, labels: {v: b}}, {address: 127.0.0.3, labels: {v: b}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: b}
spec:
  host: api.example.com
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    connectionPool: {tcp: {maxConnections: 1000}, http: {http1MaxPendingRequests: 100}}
    outlierDetection: {consecutive5xxErrors: 5, interval: 1s, baseEjectionTime: 30s}
  subsets: [{name: a, labels: {v: a}}, {name: b, labels: {v: b}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: b}
spec:
  hosts: [api.example.com]
  http:
  - match: [{headers: {x-canary: {exact: "1"}}}]
    route: [{destination: {host: api.example.com, subset: a}}]
  - match: [{uri: {prefix: /v1/}}]
    route: [{destination: {host: api.example.com, subset: a}, weight: 10}, {destination: {host: api.example.com, subset: b}, weight: 90}]
    timeout: 2s
`
	res, ds, _ := registry.Parse("b.yaml", []byte(reg))
	s, bds := registry.Build(res, registry.BuildOptions{})
	if errs := append(ds, bds...).Errors(); len(errs) > 0 || s == nil {
		b.Fatal(errs)
	}
	h, _, err := canon.ParseAuthority("api.example.com", 80)
	if err != nil {
		b.Fatal(err)
	}
	rt, _ := s.Lookup(h, 80)
	return rt
}

// BenchmarkRouting is the routing layer's cost for one call: the
// VirtualService rule and weighted subset, the subset's endpoints, the
// pool place, the endpoint choice and the outcome's bookkeeping
// (docs: at most 3 µs). The plain path (no policy) is measured beside it.
func BenchmarkRouting(b *testing.B) {
	rt := benchRoute(b)
	g := &Gateway{lbs: lb.NewTable(nil)}
	req, _ := http.NewRequest("GET", "http://api.example.com/v1/charges", nil)
	plan := &dialPlan{addrs: []dialAddr{
		{"tcp", "127.0.0.1:80", 0, map[string]string{"v": "a"}},
		{"tcp", "127.0.0.2:80", 0, map[string]string{"v": "b"}},
		{"tcp", "127.0.0.3:80", 0, map[string]string{"v": "b"}},
	}}
	ctx := context.Background()
	run := func(b *testing.B, rt *registry.Route) {
		// The call and its routing state live in the request's forward,
		// allocated once per request whatever the route: reuse them.
		c := &call{Request: Request{Port: 80, Method: "GET", Path: "/v1/charges", Identity: Identity{IP: netip.MustParseAddr("10.0.0.1")}}, Decision: Decision{Route: rt}}
		bl := &balanced{}
		b.ReportAllocs()
		for b.Loop() {
			c.plan = plan
			*bl = balanced{}
			if !g.selectRoute(c, req, bl) {
				b.Fatal("no route")
			}
			if err := g.route(c, req, bl); err != nil {
				b.Fatal(err)
			}
			if err := g.balance(ctx, c, req, bl); err != nil {
				b.Fatal(err)
			}
			bl.end(200, nil)
		}
	}
	b.Run("virtualservice+policy", func(b *testing.B) { run(b, rt) })
	plain := *rt
	plain.Traffic, plain.HTTP = nil, nil
	b.Run("no policy", func(b *testing.B) { run(b, &plain) })
}
