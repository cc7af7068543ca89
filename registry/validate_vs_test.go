package registry

import (
	"fmt"
	"strings"
	"testing"
)

func vsDoc(spec string) string {
	return "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs, namespace: ns}\nspec:\n" + spec
}

const toBaz = "  http: [{route: [{destination: {host: foo.baz}}]}]\n"

// istioVirtualServiceCases are cases of Istio's TestValidateHTTPRetry
// and TestValidateVirtualService (validation_test.go at 86c9f01), as
// YAML, with the findings Istio gives; then Sluice's for the CRD schema.
func istioVirtualServiceCases() []drCase {
	retry := func(r string) string {
		return "  hosts: [foo.bar]\n  http: [{route: [{destination: {host: foo.bar}}], retries: " + r + "}]\n"
	}
	const rf = "spec.http[0].retries"
	return []drCase{
		// TestValidateHTTPRetry
		{name: "retry valid", spec: retry("{attempts: 10, perTryTimeout: 2s, retryOn: '5xx,gateway-error'}")},
		{name: "retry disable retries", spec: retry("{attempts: 0}")},
		{name: "retry invalid, retry policy configured but attempts set to zero", spec: retry("{attempts: 0, perTryTimeout: 2s, retryOn: '5xx,gateway-error'}"),
			errs: []string{rf + ": http retry policy configured when attempts are set to 0 (disabled)"}},
		{name: "retry valid default", spec: retry("{attempts: 10}")},
		{name: "retry valid http status retryOn", spec: retry("{attempts: 10, perTryTimeout: 2s, retryOn: '503,connect-failure'}")},
		{name: "retry invalid attempts", spec: retry("{attempts: -1, perTryTimeout: 2s}"),
			errs: []string{rf + ".attempts: attempts cannot be negative"}},
		{name: "retry invalid timeout", spec: retry("{attempts: 10, perTryTimeout: 2.000000001s}"),
			errs: []string{rf + ".perTryTimeout: only durations to ms precision are supported"}},
		{name: "retry timeout too small", spec: retry("{attempts: 10, perTryTimeout: 999ns}"),
			errs: []string{rf + ".perTryTimeout: duration must be greater than 1ms"}},
		{name: "retry invalid backoff", spec: retry("{attempts: 10, backoff: 999ns}"),
			errs: []string{rf + ".backoff: duration must be greater than 1ms"}},
		{name: "retry invalid policy retryOn", spec: retry("{attempts: 10, perTryTimeout: 2s, retryOn: '5xx,invalid policy'}"),
			errs: []string{rf + `.retryOn: "invalid policy" is not a valid retryOn policy`}},
		{name: "retry invalid http status retryOn", spec: retry("{attempts: 10, perTryTimeout: 2s, retryOn: '600,connect-failure'}"),
			errs: []string{rf + `.retryOn: "600" is not a valid retryOn policy`}},
		{name: "retry invalid, retryRemoteLocalities configured but attempts set to zero", spec: retry("{attempts: 0, retryRemoteLocalities: false}"),
			errs: []string{rf + ": http retry policy configured when attempts are set to 0 (disabled)"}},

		// TestValidateVirtualService
		{name: "simple", spec: "  hosts: [foo.bar]\n" + toBaz},
		{name: "duplicate hosts", spec: "  hosts: ['*.foo.bar', '*.bar']\n" + toBaz,
			errs: []string{"spec.hosts[1]: duplicate hosts in virtual service: *.foo.bar & *.bar"}},
		{name: "with no destination", spec: "  hosts: ['*.foo.bar', '*.bar']\n  http: [{route: [{}]}]\n",
			errs: []string{"spec.hosts[1]: duplicate hosts in virtual service: *.foo.bar & *.bar", "spec.http[0].route[0].destination: destination is required"}},
		{name: "destination with out hosts", spec: "  hosts: ['*.foo.bar', '*.bar']\n  http: [{route: [{destination: {}}]}]\n",
			errs: []string{"spec.hosts[1]: duplicate hosts in virtual service: *.foo.bar & *.bar", "spec.http[0].route[0].destination.host: empty domain name not allowed"}},
		{name: "delegate with no hosts", spec: toBaz},
		{name: "bad host", spec: "  hosts: [foo.ba!r]\n" + toBaz,
			errs: []string{`spec.hosts[0]: domain name "ba!r" invalid (label "ba!r" invalid)`}},
		{name: "no tcp or http routing", spec: "  hosts: [foo.bar]\n",
			errs: []string{"spec: http, tcp or tls must be provided in virtual service"}},
		{name: "bad gateway", spec: "  hosts: [foo.bar]\n  gateways: [b@dgateway]\n" + toBaz,
			errs: []string{`spec.gateways: domain name "b@dgateway" invalid (label "b@dgateway" invalid)`}},
		{name: "FQDN for gateway", spec: "  hosts: [foo.bar]\n  gateways: [gateway.example.com]\n" + toBaz,
			warns: []string{`spec.gateways: using legacy gatewayName format "gateway.example.com"; prefer the <namespace>/<name> format: "example/gateway"`}},
		{name: "namespace/name for gateway", spec: "  hosts: [foo.bar]\n  gateways: [ns1/gateway]\n" + toBaz},
		{name: "namespace/* for gateway", spec: "  hosts: [foo.bar]\n  gateways: [ns1/*]\n" + toBaz,
			errs: []string{`spec.gateways: invalid value for gateway name: "*"`}},
		{name: "*/name for gateway", spec: "  hosts: [foo.bar]\n  gateways: ['*/gateway']\n" + toBaz,
			errs: []string{`spec.gateways: invalid value for namespace: "*"`}},
		{name: "wildcard for mesh gateway", spec: "  hosts: ['*']\n" + toBaz,
			errs: []string{"spec.hosts[0]: wildcard host * is not allowed for virtual services bound to the mesh gateway"}},
		{name: "wildcard for non-mesh gateway", spec: "  hosts: ['*']\n  gateways: [somegateway]\n" + toBaz},
		{name: "missing tcp route", spec: "  hosts: [foo.bar]\n  tcp: [{match: [{port: 999}]}]\n",
			errs: []string{"spec.tcp[0].route: TCP route is required"}},
		{name: "missing tls route", spec: "  hosts: [foo.bar]\n  tls: [{match: [{port: 999, sniHosts: [foo.bar]}]}]\n",
			errs: []string{"spec.tls[0].route: TLS route is required"}},

		{name: "jwt claim route without gateway", spec: "  hosts: [foo.bar]\n  http: [{match: [{headers: {'@request.auth.claims.foo': {exact: bar}}}], route: [{destination: {host: foo.bar}}]}]\n",
			errs: []string{"spec.http[0].match[0]: JWT claim based routing (key: @request.auth.claims.foo) is only supported for gateway, found no gateways: []"}},
		{name: "invalid header name", spec: "  hosts: [foo.bar]\n  http: [{match: [{headers: {'x y': {exact: bar}}}], route: [{destination: {host: foo.bar}}]}]\n",
			errs: []string{"spec.http[0].match[0].headers.x y: header name x y is not a valid header name"}},

		// The CRD schema, in Sluice's wording.
		{name: "misspelt retries key", spec: retry("{attempts: 3, perTryTimout: 1s}"),
			errs: []string{rf + `.perTryTimout: unknown key "perTryTimout" (known keys: attempts, backoff, perTryTimeout, retryIgnorePreviousHosts, retryOn, retryRemoteLocalities)`}},
		{name: "two kinds of string match", spec: "  hosts: [foo.bar]\n  http: [{match: [{uri: {exact: /a, prefix: /a}}], route: [{destination: {host: foo.bar}}]}]\n",
			errs: []string{"spec.http[0].match[0].uri: only one of exact, prefix may be set"}},
		{name: "bad regex", spec: "  hosts: [foo.bar]\n  http: [{match: [{uri: {regex: '('}}], route: [{destination: {host: foo.bar}}]}]\n",
			errs: []string{"spec.http[0].match[0].uri.regex: \"uri\": error parsing regexp: missing closing ): `(`; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)"}},
		{name: "bad timeout", spec: "  hosts: [foo.bar]\n  http: [{route: [{destination: {host: foo.bar}}], timeout: 1.5ms}]\n",
			errs: []string{"spec.http[0].timeout: only durations to ms precision are supported"}},
		{name: "weights total 0", spec: "  hosts: [foo.bar]\n  http: [{route: [{destination: {host: foo.bar, subset: a}}, {destination: {host: foo.bar, subset: b}}]}]\n",
			errs: []string{"spec.http[0].route: total destination weight = 0"}},
		{name: "negative weight", spec: "  hosts: [foo.bar]\n  http: [{route: [{destination: {host: foo.bar}, weight: -1}]}]\n",
			errs: []string{"spec.http[0].route[0].weight: weight -1 < 0"}},
	}
}

func TestIstioVirtualServiceTables(t *testing.T) {
	for _, tc := range istioVirtualServiceCases() {
		t.Run(tc.name, func(t *testing.T) {
			errs, warns := findings(t, vsDoc(tc.spec))
			var kept []string
			for _, w := range warns {
				if !strings.Contains(w, ": not applied by sluice: ") && !strings.Contains(w, "this VirtualService has no effect in sluice") {
					kept = append(kept, w)
				}
			}
			checkFindings(t, errs, kept, tc.errs, tc.warns)
		})
	}
}

// TestVirtualServiceGateways: a VirtualService applies with no gateways,
// with mesh, or naming one of registry.gateways (a bare name is in its
// own namespace); one bound to another gateway is reported, not applied.
func TestVirtualServiceGateways(t *testing.T) {
	se := seDoc("  hosts: [api.example.com]\n  resolution: DNS\n  ports: [{number: 80, name: http, protocol: HTTP}]\n")
	tests := []struct {
		gateways string
		applies  bool
	}{
		{"", true},
		{"  gateways: [mesh]\n", true},
		{"  gateways: [egress/sluice]\n", true},
		{"  gateways: [sluice]\n", false}, // ns/sluice, not egress/sluice
		{"  gateways: [istio-system/egressgateway]\n", false},
	}
	for _, tc := range tests {
		vs := vsDoc("  hosts: [api.example.com]\n" + tc.gateways + "  http: [{route: [{destination: {host: api.example.com}}], timeout: 1s}]\n")
		res, ds, _ := Parse("t.yaml", []byte(se+"\n---\n"+vs))
		s, bds := Build(res, BuildOptions{Gateways: []string{"egress/sluice"}})
		if errs := append(ds, bds...).Errors(); len(errs) > 0 {
			t.Fatal(errs)
		}
		r, _ := s.Lookup(mustHost(t, "api.example.com"), 80)
		if got := len(r.HTTP) == 1; got != tc.applies {
			t.Errorf("%q: applies %v, want %v (%v)", tc.gateways, got, tc.applies, bds)
		}
		warned := strings.Contains(fmt.Sprint(bds), "bound to gateways other than mesh and registry.gateways")
		if warned == tc.applies {
			t.Errorf("%q: warned %v: %v", tc.gateways, warned, bds)
		}
	}
}
