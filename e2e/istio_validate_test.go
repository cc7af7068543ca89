package e2e

import (
	"strings"
	"testing"
)

// TestValidateIstioMessages: `sluice validate` refuses invalid
// VirtualService and DestinationRule fields the way Istio's webhook
// does, each finding naming file, line, column, resource and field, with
// Istio's message (or, for an enum the CRD spells in upper case,
// Sluice's), and exits 1; a field it validates but does not apply is a
// warning.
func TestValidateIstioMessages(t *testing.T) {
	dir := t.TempDir()
	WriteFile(t, dir+"/sluice.yaml", "registry: {paths: [registry]}\npolicy: {paths: []}\n")
	WriteFile(t, dir+"/registry/se.yaml", `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: web}
spec:
  hosts: [api.example.com]
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP}, {number: 443, name: tls, protocol: TLS}]
`)
	WriteFile(t, dir+"/registry/vs.yaml", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: web}
spec:
  hosts: [api.example.com]
  http:
  - match:
    - uri: {exact: /old}
    redirect:
      prefixRewrite: /new
  - route:
    - destination: {host: api.example.com}
      headers:
        response:
          set: {x-cost: "abc%123"}
  tls:
  - match:
    - sniHosts: [other.example.com]
    route:
    - destination: {host: api.example.com}
`)
	WriteFile(t, dir+"/registry/dr.yaml", `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: web}
spec:
  host: api.example.com
  trafficPolicy:
    tls: {mode: simple}
    loadBalancer:
      localityLbSetting:
        distribute:
        - from: us-east/*
          to: {us-east/a: 100}
        - from: us-east/zone1
          to: {us-east/a: 100}
`)
	out, code := RunSluice(t, dir, "validate", "-c", "sluice.yaml")
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{
		"registry/vs.yaml:10:7: error: doc 0: VirtualService web/shop: spec.http[0].redirect.prefixRewrite: redirect prefix_rewrite requires all URI matches to use prefix match type",
		"registry/vs.yaml:15:17: error: doc 0: VirtualService web/shop: spec.http[1].route[0].headers.response.set.x-cost: header value configuration: invalid header configuration. Un-terminated variable expression 'abc%123'",
		`registry/vs.yaml:18:18: error: doc 0: VirtualService web/shop: spec.tls[0].match[0].sniHosts[0]: SNI host "other.example.com" is not a compatible subset of any of the virtual service hosts: [api.example.com]`,
		"registry/dr.yaml:10:9: error: doc 0: DestinationRule web/api: spec.trafficPolicy.loadBalancer.localityLbSetting.distribute: locality us-east/zone1 overlap with previous specified ones",
		"registry/dr.yaml:7:11: error: doc 0: DestinationRule web/api: spec.trafficPolicy.tls.mode: unsupported tls mode simple (want DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL)",
		"registry/vs.yaml:9:5: warning: doc 0: VirtualService web/shop: spec.http[0].redirect: not applied by sluice: redirect has no effect on calls through the gateway",
		"sluice validate: 5 error(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}

	// Fixed as Istio asks, the same files validate; what sluice does not
	// apply is still named.
	WriteFile(t, dir+"/registry/vs.yaml", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: web}
spec:
  hosts: [api.example.com]
  http:
  - match:
    - uri: {prefix: /old}
    redirect:
      prefixRewrite: /new
  - route:
    - destination: {host: api.example.com}
      headers:
        response:
          set: {x-cost: "100%%"}
`)
	WriteFile(t, dir+"/registry/dr.yaml", `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: web}
spec:
  host: api.example.com
  trafficPolicy:
    tls: {mode: SIMPLE}
`)
	out, code = RunSluice(t, dir, "validate", "-c", "sluice.yaml")
	if code != 0 || !strings.Contains(out, "spec.http[1].route[0].headers: not applied by sluice: route.headers has no effect") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
