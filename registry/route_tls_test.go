package registry

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// buildDocs loads docs as one file and builds them with opts, failing on
// any error.
func buildDocs(t *testing.T, opts BuildOptions, docs ...string) (*Snapshot, Diagnostics) {
	t.Helper()
	res, ds, _ := Parse("t.yaml", []byte(strings.Join(docs, "\n---\n")))
	s, bds := Build(res, opts)
	ds = append(ds, bds...)
	if errs := ds.Errors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	return s, ds
}

// TestL4Routes: tls rules route a TLS port by SNI and port, tcp rules a
// TCP port, each to its subset and weight; a match naming another
// gateway does not apply; tls/tcp routes are no longer warned about.
func TestL4Routes(t *testing.T) {
	se := seDoc(`  hosts: [db.example]
  resolution: STATIC
  ports: [{number: 443, name: tls, protocol: TLS}, {number: 5432, name: pg, protocol: TCP}, {number: 5433, name: pg2, protocol: TCP, targetPort: 6000}]
  endpoints: [{address: 10.0.0.1, labels: {v: a}}, {address: 10.0.0.2, labels: {v: b}}]
`)
	dr := drDoc("  host: db.example\n  subsets: [{name: a, labels: {v: a}}, {name: b, labels: {v: b}}]\n")
	vs := vsDoc(`  hosts: [db.example]
  tls:
  - match: [{sniHosts: [db.example], port: 443, gateways: [other/gw]}]
    route: [{destination: {host: db.example, subset: b}}]
  - match: [{sniHosts: [db.example], port: 443}]
    route: [{destination: {host: db.example, subset: a}}]
  tcp:
  - match: [{port: 5432, sourceLabels: {app: x}}]
    route: [{destination: {host: db.example, subset: a}, weight: 100}, {destination: {host: db.example, subset: b}, weight: 0}]
  - match: [{port: 5433}]
    route: [{destination: {host: db.example, port: {number: 5432}}}]
`)
	s, ds := buildDocs(t, BuildOptions{}, se, dr, vs)
	for _, d := range ds {
		if strings.Contains(d.Msg, "tls routes") || strings.Contains(d.Msg, "tcp routes") {
			t.Errorf("still warned: %v", d)
		}
	}
	if !strings.Contains(fmt.Sprint(ds), "spec.tcp[0].match[0].sourceLabels") {
		t.Errorf("sourceLabels not warned: %v", ds)
	}
	host := mustHost(t, "db.example")
	rt, _ := s.Lookup(host, 443)
	if len(rt.L4) != 1 {
		t.Fatalf("443: %d rules, want 1 (the one for another gateway left out): %+v", len(rt.L4), rt.L4)
	}
	rule, dest, ok := rt.SelectL4(L4Request{Host: "db.example", Port: 443})
	if !ok || dest.Subset != "a" || rule.Name != "ns/vs#tls[1]" || !dest.Selects(map[string]string{"v": "a"}) {
		t.Fatalf("tls: %v %+v %+v", ok, rule, dest)
	}
	if _, _, ok := rt.SelectL4(L4Request{Host: "other.example", Port: 443}); ok {
		t.Fatal("an SNI the rule does not name matched")
	}
	rt, _ = s.Lookup(host, 5432)
	for range 20 {
		rule, dest, ok := rt.SelectL4(L4Request{Host: "db.example", Port: 5432})
		if !ok || rule.Kind != "tcp" || dest.Subset != "a" {
			t.Fatalf("tcp weight 100/0: %v %+v %+v", ok, rule, dest)
		}
	}
	rt, _ = s.Lookup(host, 5433)
	_, dest, ok = rt.SelectL4(L4Request{Host: "db.example", Port: 5433})
	if !ok || dest.Port != 5432 || dest.DialPort != 5432 {
		t.Fatalf("destination port: %v %+v", ok, dest)
	}
	if _, _, ok := rt.SelectL4(L4Request{Host: "db.example", Port: 5432}); ok {
		t.Fatal("the 5432 rule matched on 5433's route")
	}
}

// TestL4Match covers wildcard SNIs and destination subnets.
func TestL4Match(t *testing.T) {
	r := L4Rule{Match: []L4Match{{SNIHosts: []string{"*.example.com"}}, {Subnets: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}}}
	for _, tc := range []struct {
		req  L4Request
		want bool
	}{
		{L4Request{Host: "a.example.com"}, true},
		{L4Request{Host: "example.com"}, false},
		{L4Request{Host: "192.0.2.7", IP: netip.MustParseAddr("192.0.2.7")}, true},
		{L4Request{Host: "198.51.100.1", IP: netip.MustParseAddr("198.51.100.1")}, false},
	} {
		if got := r.matches(&tc.req); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.req, got, tc.want)
		}
	}
}
