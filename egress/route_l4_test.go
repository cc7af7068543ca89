package egress

import (
	"testing"

	"github.com/sluicehq/sluice/internal/canon"
	"github.com/sluicehq/sluice/registry"
)

// loadRegistry builds a snapshot of reg, failing on any error.
func loadRegistry(t testing.TB, reg string) (*registry.Snapshot, registry.Diagnostics) {
	t.Helper()
	res, ds, _ := registry.Parse("r.yaml", []byte(reg))
	s, bds := registry.Build(res, registry.BuildOptions{})
	ds = append(ds, bds...)
	if errs := ds.Errors(); len(errs) > 0 || s == nil {
		t.Fatal(errs)
	}
	return s, ds
}

func mustCanon(t testing.TB, h string) canon.Host {
	t.Helper()
	host, _, err := canon.ParseAuthority(h, 80)
	if err != nil {
		t.Fatal(err)
	}
	return host
}

// TestL4RoutePlan: a tls/tcp destination narrows the tunnel's plan to
// its subset's endpoints and dials its port.
func TestL4RoutePlan(t *testing.T) {
	s, _ := loadRegistry(t, `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: t}
spec:
  hosts: [db.test]
  resolution: STATIC
  ports: [{number: 5432, name: a, protocol: TCP}, {number: 5433, name: b, protocol: TCP, targetPort: 7000}]
  endpoints: [{address: 10.0.0.1, labels: {v: a}}, {address: 10.0.0.2, labels: {v: b}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db, namespace: t}
spec:
  host: db.test
  subsets: [{name: b, labels: {v: b}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: t}
spec:
  hosts: [db.test]
  tcp: [{route: [{destination: {host: db.test, subset: b, port: {number: 5433}}}]}]
`)
	rt, _ := s.Lookup(mustCanon(t, "db.test"), 5432)
	c := &call{Request: Request{Host: mustCanon(t, "db.test"), Port: 5432}, Decision: Decision{Route: rt}}
	if !(&Gateway{}).routeL4(c) || c.l4 == nil {
		t.Fatal("no tcp rule chosen")
	}
	full := &dialPlan{addrs: []dialAddr{{"tcp", "10.0.0.1:5432", 0, map[string]string{"v": "a"}}, {"tcp", "10.0.0.2:5432", 0, map[string]string{"v": "b"}}}}
	p, err := c.l4.plan(full, "db.test")
	if err != nil || len(p.addrs) != 1 || p.addrs[0].addr != "10.0.0.2:7000" {
		t.Fatalf("plan %+v %v", p, err)
	}
	if c.l4.rule.Name != "t/db#tcp[0]" || c.l4.dest.Cluster != "t/db:5432/b" {
		t.Fatalf("rule %s cluster %s", c.l4.rule.Name, c.l4.dest.Cluster)
	}
}
