package registry

import (
	"encoding/base64"
	"strings"
	"testing"
)

// The VirtualService tables of istio/istio pkg/config/validation at
// 86c9f01 (validation_test.go and virtualservice_test.go), ported case
// for case as YAML, each with the findings Istio gives as
// "field: message" (a case Istio calls valid lists no errors). Istio
// calls most of these checks on one value (validateHTTPRoute on a rule,
// validateCORSPolicy on a policy…); here every case is a whole
// VirtualService read by Parse and Build, as `sluice validate` reads it,
// with the value under test as its only rule. Warnings that a field is
// not applied by Sluice are left out (TestUnappliedVSFieldsWarn checks
// them).
//
// Not ported, for want of input Sluice has:
//   - cases with nil list items (Istio's "http route may not be null",
//     "weight may not be nil", "TLS match may not be null"): a null item
//     of a YAML list decodes to an empty value, as the API server stores
//     it; "match with nil element" is ported that way;
//   - the gatewaySemantics flag (an annotation Istio sets on routes it
//     converts from the Gateway API, never on a user's resource);
//   - TestStrictValidateHTTPHeaderName (sidecar and probe headers, no
//     field of the three kinds).
//
// Istio's durations with nanoseconds are written as Go durations
// ("2.000000042s"), its []byte bodies as base64.

// vsRule is a VirtualService for foo.bar with one http rule (flow YAML).
func vsRule(rule string) string { return "  hosts: [foo.bar]\n  http: [" + rule + "]\n" }

// delegateRule is a delegate VirtualService (no hosts) with one rule.
func delegateRule(rule string) string { return "  http: [" + rule + "]\n" }

const (
	toFooBaz  = "route: [{destination: {host: foo.baz}}]"
	toFooBar  = "route: [{destination: {host: foo.bar}}]"
	delegates = "delegate: {name: test, namespace: test}"
	redirects = "redirect: {uri: /, authority: foo.biz}"
)

// istioHTTPRouteCases is TestValidateHTTPRoute (39 cases).
func istioHTTPRouteCases() []drCase {
	const f = "spec.http[0]"
	hdrs := func(ops string) string {
		return vsRule("route: [{destination: {host: foo.baz}, headers: " + ops + "}]")
	}
	const rf = f + ".route[0].headers"
	return []drCase{
		{name: "empty", spec: vsRule("{}"),
			errs: []string{f + ": HTTP route, redirect or direct_response is required"}},
		{name: "simple", spec: vsRule("{" + toFooBaz + "}")},
		{name: "no destination", spec: vsRule("{route: [{destination: null}]}"),
			errs: []string{f + ".route[0].destination: destination is required"}},
		{name: "weighted", spec: vsRule("{route: [{destination: {host: foo.baz.south}, weight: 25}, {destination: {host: foo.baz.east}, weight: 75}]}")},
		{name: "total weight > 100", spec: vsRule("{route: [{destination: {host: foo.baz.south}, weight: 550}, {destination: {host: foo.baz.east}, weight: 500}]}")},
		{name: "total weight < 100", spec: vsRule("{route: [{destination: {host: foo.baz.south}, weight: 49}, {destination: {host: foo.baz.east}, weight: 50}]}")},
		{name: "simple redirect", spec: vsRule("{redirect: {uri: /lerp, authority: foo.biz}}")},
		{name: "prefix_rewrite redirect with prefix URI match", spec: vsRule("{match: [{uri: {prefix: /foo}}], redirect: {prefixRewrite: /bar}}")},
		{name: "prefix_rewrite redirect with exact URI match is invalid", spec: vsRule("{match: [{uri: {exact: /foo}}], redirect: {prefixRewrite: /bar}}"),
			errs: []string{f + ".redirect.prefixRewrite: redirect prefix_rewrite requires all URI matches to use prefix match type"}},
		{name: "prefix_rewrite redirect with regex URI match is invalid", spec: vsRule("{match: [{uri: {regex: /foo.*}}], redirect: {prefixRewrite: /bar}}"),
			errs: []string{f + ".redirect.prefixRewrite: redirect prefix_rewrite requires all URI matches to use prefix match type"}},
		{name: "prefix_rewrite redirect with no URI match (wildcard) is valid", spec: vsRule("{match: [{headers: {x-foo: {exact: bar}}}], redirect: {prefixRewrite: /bar}}")},
		{name: "conflicting redirect and route", spec: vsRule("{" + toFooBaz + ", redirect: {uri: /lerp, authority: foo.biz}}"),
			errs: []string{f + ": HTTP route cannot contain both route and redirect"}},
		{name: "request response headers", spec: vsRule("{" + toFooBaz + "}")},
		{name: "valid headers", spec: hdrs("{request: {add: {name: ''}, set: {name: ''}, remove: [name]}, response: {add: {name: ''}, set: {name: ''}, remove: [name]}}")},
		{name: "empty header name - request add", spec: hdrs("{request: {add: {'': value}}}"),
			errs: []string{rf + ".request.add.: header name cannot be empty"}},
		{name: "empty header name - request set", spec: hdrs("{request: {set: {'': value}}}"),
			errs: []string{rf + ".request.set.: header name cannot be empty"}},
		{name: "empty header name - request remove", spec: hdrs("{request: {remove: ['']}}"),
			errs: []string{rf + ".request.remove[0]: header name cannot be empty"}},
		{name: "empty header name - response add", spec: hdrs("{response: {add: {'': value}}}"),
			errs: []string{rf + ".response.add.: header name cannot be empty"}},
		{name: "empty header name - response set", spec: hdrs("{response: {set: {'': value}}}"),
			errs: []string{rf + ".response.set.: header name cannot be empty"}},
		{name: "empty header name - response remove", spec: hdrs("{response: {remove: ['']}}"),
			errs: []string{rf + ".response.remove[0]: header name cannot be empty"}},
		{name: "envoy escaped % set", spec: hdrs("{response: {set: {i-love-istio: '100%%'}}}")},
		{name: "envoy variable set", spec: hdrs("{response: {set: {name: '%HOSTNAME%'}}}")},
		{name: "envoy unescaped % set", spec: hdrs("{response: {set: {name: 'abcd%oijasodifj'}}}"),
			errs: []string{rf + ".response.set.name: header value configuration: invalid header configuration. Un-terminated variable expression 'abcd%oijasodifj'"}},
		{name: "envoy escaped % add", spec: hdrs("{response: {add: {i-love-istio: '100%% and more'}}}")},
		{name: "envoy variable add", spec: hdrs("{response: {add: {name: 'hello %HOSTNAME%'}}}")},
		{name: "envoy unescaped % add", spec: hdrs("{response: {add: {name: 'abcd%oijasodifj'}}}"),
			errs: []string{rf + ".response.add.name: header value configuration: invalid header configuration. Un-terminated variable expression 'abcd%oijasodifj'"}},
		{name: "null header match", spec: vsRule("{" + toFooBar + ", match: [{headers: {header: null}}]}"),
			errs: []string{f + ".match[0].headers.header: header match header cannot be null"}},
		{name: "empty prefix header match", spec: vsRule("{" + toFooBar + ", match: [{headers: {emptyprefix: {prefix: ''}}}]}"),
			errs: []string{f + `.match[0].headers.emptyprefix.prefix: "headers": prefix string match should not be empty`}},
		{name: "nil match", spec: vsRule("{" + toFooBar + ", match: null}")},
		{name: "match with nil element", spec: vsRule("{" + toFooBar + ", match: [null]}")},
		{name: "invalid mirror percent", spec: vsRule("{mirrorPercent: 101, " + toFooBar + ", match: [null]}"),
			errs:  []string{f + ".mirrorPercent: mirror_percent must have a max value of 100 (it has 101)"},
			warns: []string{f + `.mirrorPercent: using deprecated setting "mirrorPercent", use "mirrorPercentage" instead`}},
		{name: "invalid mirror percentage", spec: vsRule("{mirrorPercentage: {value: 101}, " + toFooBar + ", match: [null]}"),
			errs: []string{f + ".mirrorPercentage.value: mirror_percentage must have a max value of 100 (it has 101.000000)"}},
		{name: "valid mirror percentage", spec: vsRule("{mirrorPercentage: {value: 1}, " + toFooBar + ", match: [null]}")},
		{name: "negative mirror percentage", spec: vsRule("{mirrorPercentage: {value: -1}, " + toFooBar + ", match: [null]}"),
			errs: []string{f + ".mirrorPercentage.value: mirror_percentage must have a min value of 0 (it has -1.000000)"}},
		{name: "mirrors without destination", spec: vsRule("{mirrors: [{destination: null}], " + toFooBar + ", match: [null]}"),
			errs: []string{f + ".mirrors[0].destination: destination is required for mirrors"}},
		{name: "mirrors invalid mirror percentage", spec: vsRule("{mirrors: [{destination: {host: foo.baz}}, {destination: {host: foo.baz}, percentage: {value: 101}}], " + toFooBar + ", match: [null]}"),
			errs: []string{f + ".mirrors[1].percentage.value: mirror percentage must have a max value of 100 (it has 101.000000)"}},
		{name: "mirrors valid mirror percentage", spec: vsRule("{mirrors: [{destination: {host: foo.baz}, percentage: {value: 1}}, {destination: {host: foo.baz}, percentage: {value: 50}}], " + toFooBar + ", match: [null]}")},
		{name: "mirrors negative mirror percentage", spec: vsRule("{mirrors: [{destination: {host: foo.baz}, percentage: {value: -1}}], " + toFooBar + ", match: [null]}"),
			errs: []string{f + ".mirrors[0].percentage.value: mirror percentage must have a min value of 0 (it has -1.000000)"}},
		{name: "conflicting mirror and mirrors", spec: vsRule("{mirror: {host: foo.baz}, mirrors: [{destination: {host: foo.bar}}], " + toFooBaz + "}"),
			errs: []string{f + ": HTTP route cannot contain both mirror and mirrors"}},
	}
}

// istioRootHTTPRouteCases is TestValidateRootHTTPRoute (26 cases): rules
// of a VirtualService with hosts, most of them delegating.
func istioRootHTTPRouteCases() []drCase {
	const f = "spec.http[0]"
	const re2 = "; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)"
	return []drCase{
		{name: "simple", spec: vsRule("{" + delegates + "}")},
		{name: "route and delegate conflict", spec: vsRule("{" + toFooBaz + ", " + delegates + "}"),
			errs: []string{f + ": root HTTP route  must not specify route"}},
		{name: "redirect and delegate conflict", spec: vsRule("{redirect: {uri: /lerp, authority: foo.biz}, " + delegates + "}"),
			errs: []string{f + ": root HTTP route  must not specify redirect"}},
		{name: "null header match", spec: vsRule("{" + delegates + ", match: [{headers: {header: null}}]}"),
			errs: []string{f + ".match[0].headers.header: header match header cannot be null"}},
		{name: "prefix header match", spec: vsRule("{" + delegates + ", match: [{headers: {header: {prefix: test}}}]}")},
		{name: "empty prefix header match (delegate)", spec: vsRule("{" + delegates + ", match: [{headers: {header: {prefix: ''}}}]}"),
			errs: []string{f + `.match[0].headers.header.prefix: "headers": prefix string match should not be empty`}},
		{name: "exact header match", spec: vsRule("{" + delegates + ", match: [{headers: {header: {exact: test}}}]}")},
		{name: "regex header match", spec: vsRule("{" + delegates + ", match: [{headers: {header: {regex: test}}}]}")},
		{name: "exact without headers match", spec: vsRule("{" + redirects + ", match: [{withoutHeaders: {header: {exact: test}}}]}")},
		{name: "regex without headers match", spec: vsRule("{" + redirects + ", match: [{withoutHeaders: {header: {regex: test}}}]}")},
		{name: "regex without headers match ?", spec: vsRule("{" + redirects + ", match: [{withoutHeaders: {header: {regex: '?'}}}]}"),
			errs: []string{f + ".match[0].withoutHeaders.header.regex: \"withoutHeaders\": error parsing regexp: missing argument to repetition operator: `?`" + re2}},
		{name: "regex without headers match *", spec: vsRule("{" + redirects + ", match: [{withoutHeaders: {header: {regex: '*'}}}]}")},
		{name: "regex uri match", spec: vsRule("{" + delegates + ", match: [{uri: {regex: test}}]}")},
		{name: "prefix uri match", spec: vsRule("{" + delegates + ", match: [{uri: {prefix: test}}]}")},
		{name: "exact uri match", spec: vsRule("{" + delegates + ", match: [{uri: {exact: test}}]}")},
		{name: "prefix queryParams match", spec: vsRule("{" + delegates + ", match: [{queryParams: {q: {prefix: test}}}]}")},
		{name: "exact queryParams match", spec: vsRule("{" + delegates + ", match: [{queryParams: {q: {exact: test}}}]}")},
		{name: "regex queryParams match", spec: vsRule("{" + delegates + ", match: [{headers: {q: {regex: test}}}]}")},
		{name: "empty prefix match in method", spec: vsRule("{match: [{method: {prefix: ''}}], " + redirects + "}"),
			errs: []string{f + `.match[0].method.prefix: "method": prefix string match should not be empty`}},
		{name: "empty regex match in method", spec: vsRule("{match: [{method: {regex: ''}}], " + redirects + "}"),
			errs: []string{f + `.match[0].method.regex: "method": regex string match should not be empty`}},
		{name: "empty prefix match in uri", spec: vsRule("{match: [{uri: {prefix: ''}}], " + redirects + "}")},
		{name: "empty regex match in uri", spec: vsRule("{match: [{uri: {regex: ''}}], " + redirects + "}"),
			errs: []string{f + `.match[0].uri.regex: "uri": regex string match should not be empty`}},
		{name: "empty regex match in query", spec: vsRule("{match: [{queryParams: {q: {regex: ''}}}], " + redirects + "}"),
			errs: []string{f + `.match[0].queryParams.q.regex: "queryParams": regex string match should not be empty`}},
		{name: "empty regex match in scheme", spec: vsRule("{match: [{scheme: {regex: ''}}], " + redirects + "}"),
			errs: []string{f + `.match[0].scheme.regex: "scheme": regex string match should not be empty`}},
		{name: "empty prefix match in scheme", spec: vsRule("{match: [{scheme: {prefix: ''}}], " + redirects + "}"),
			errs: []string{f + `.match[0].scheme.prefix: "scheme": prefix string match should not be empty`}},
		{name: "empty prefix header match", spec: vsRule("{match: [{headers: {header: {prefix: ''}}}]}"),
			errs: []string{f + ": HTTP route, redirect or direct_response is required", f + `.match[0].headers.header.prefix: "headers": prefix string match should not be empty`}},
	}
}

// istioDelegateHTTPRouteCases is TestValidateDelegateHTTPRoute (24
// cases): rules of a delegate VirtualService (no hosts).
func istioDelegateHTTPRouteCases() []drCase {
	const f = "spec.http[0]"
	hdrs := func(ops string) string {
		return delegateRule("route: [{destination: {host: foo.baz}, headers: " + ops + "}]")
	}
	const rf = f + ".route[0].headers"
	return []drCase{
		{name: "empty", spec: delegateRule("{}"),
			errs: []string{f + ": HTTP route, redirect or direct_response is required"}},
		{name: "simple", spec: delegateRule("{" + toFooBaz + "}")},
		{name: "no destination", spec: delegateRule("{route: [{destination: null}]}"),
			errs: []string{f + ".route[0].destination: destination is required"}},
		{name: "weighted", spec: delegateRule("{route: [{destination: {host: foo.baz.south}, weight: 25}, {destination: {host: foo.baz.east}, weight: 75}]}")},
		{name: "total weight > 100", spec: delegateRule("{route: [{destination: {host: foo.baz.south}, weight: 55}, {destination: {host: foo.baz.east}, weight: 50}]}")},
		{name: "total weight < 100", spec: delegateRule("{route: [{destination: {host: foo.baz.south}, weight: 49}, {destination: {host: foo.baz.east}, weight: 50}]}")},
		{name: "simple redirect", spec: delegateRule("{redirect: {uri: /lerp, authority: foo.biz}}")},
		{name: "conflicting redirect and route", spec: delegateRule("{" + toFooBaz + ", redirect: {uri: /lerp, authority: foo.biz}}"),
			errs: []string{f + ": HTTP route cannot contain both route and redirect"}},
		{name: "request response headers", spec: delegateRule("{" + toFooBaz + "}")},
		{name: "valid headers", spec: hdrs("{request: {add: {name: ''}, set: {name: ''}, remove: [name]}, response: {add: {name: ''}, set: {name: ''}, remove: [name]}}")},
		{name: "empty header name - request add", spec: hdrs("{request: {add: {'': value}}}"),
			errs: []string{rf + ".request.add.: header name cannot be empty"}},
		{name: "empty header name - request set", spec: hdrs("{request: {set: {'': value}}}"),
			errs: []string{rf + ".request.set.: header name cannot be empty"}},
		{name: "empty header name - request remove", spec: hdrs("{request: {remove: ['']}}"),
			errs: []string{rf + ".request.remove[0]: header name cannot be empty"}},
		{name: "empty header name - response add", spec: hdrs("{response: {add: {'': value}}}"),
			errs: []string{rf + ".response.add.: header name cannot be empty"}},
		{name: "empty header name - response set", spec: hdrs("{response: {set: {'': value}}}"),
			errs: []string{rf + ".response.set.: header name cannot be empty"}},
		{name: "empty header name - response remove", spec: hdrs("{response: {remove: ['']}}"),
			errs: []string{rf + ".response.remove[0]: header name cannot be empty"}},
		{name: "null header match", spec: delegateRule("{" + toFooBar + ", match: [{headers: {header: null}}]}"),
			errs: []string{f + ".match[0].headers.header: header match header cannot be null"}},
		{name: "nil match", spec: delegateRule("{" + toFooBar + ", match: null}")},
		{name: "match with nil element", spec: delegateRule("{" + toFooBar + ", match: [null]}")},
		{name: "invalid mirror percent", spec: delegateRule("{mirrorPercent: 101, " + toFooBar + ", match: [null]}"),
			errs:  []string{f + ".mirrorPercent: mirror_percent must have a max value of 100 (it has 101)"},
			warns: []string{f + `.mirrorPercent: using deprecated setting "mirrorPercent", use "mirrorPercentage" instead`}},
		{name: "invalid mirror percentage", spec: delegateRule("{mirrorPercentage: {value: 101}, " + toFooBar + ", match: [null]}"),
			errs: []string{f + ".mirrorPercentage.value: mirror_percentage must have a max value of 100 (it has 101.000000)"}},
		{name: "valid mirror percentage", spec: delegateRule("{mirrorPercentage: {value: 1}, " + toFooBar + ", match: [null]}")},
		{name: "negative mirror percentage", spec: delegateRule("{mirrorPercentage: {value: -1}, " + toFooBar + ", match: [null]}"),
			errs: []string{f + ".mirrorPercentage.value: mirror_percentage must have a min value of 0 (it has -1.000000)"}},
		{name: "delegate route with delegate", spec: delegateRule("{" + delegates + "}"),
			errs: []string{f + ".delegate: delegate HTTP route cannot contain delegate", f + ": HTTP route, redirect or direct_response is required"}},
	}
}

// istioChainingVirtualServiceCases is TestValidateChainingVirtualService
// (8 cases).
func istioChainingVirtualServiceCases() []drCase {
	return []drCase{
		{name: "root simple", spec: "  hosts: [foo.bar]\n  gateways: [test-gateway]\n  http: [{" + delegates + "}]\n"},
		{name: "root applies to sidecar with delegate", spec: vsRule("{" + delegates + "}")},
		{name: "root with delegate and destination in one route", spec: vsRule("{" + delegates + ", " + toFooBaz + "}"),
			errs: []string{"spec.http[0]: root HTTP route  must not specify route"}},
		{name: "delegate with no destination", spec: "  hosts: []\n  http: [{}]\n",
			errs: []string{"spec.http[0]: HTTP route, redirect or direct_response is required"}},
		{name: "delegate with delegate", spec: "  hosts: []\n  http: [{" + delegates + "}]\n",
			errs: []string{"spec.http[0].delegate: delegate HTTP route cannot contain delegate", "spec.http[0]: HTTP route, redirect or direct_response is required"}},
		{name: "delegate with TCP route", spec: "  hosts: []\n  tcp: [{route: [{destination: {host: foo.baz}}]}]\n",
			errs: []string{"spec.tcp: delegate virtual service must have no tcp route specified"}},
		{name: "delegate with gateway", spec: "  hosts: []\n  gateways: [test]\n  http: [{" + toFooBaz + "}]\n",
			errs: []string{"spec.gateways: delegate virtual service must have no gateways specified"}},
		{name: "delegate with sourceNamespace", spec: "  hosts: []\n  http: [{match: [{sourceNamespace: test}], " + toFooBaz + "}]\n"},
	}
}

// istioVirtualServiceMoreCases are the cases of TestValidateVirtualService
// that validate_vs_test.go does not port (it has the other 18).
func istioVirtualServiceMoreCases() []drCase {
	return []drCase{
		{name: "allow sni based domains", spec: "  hosts: [outbound_.15010_._.istiod.istio-system.svc.cluster.local]\n  gateways: [ns1/gateway]\n" +
			"  tls: [{match: [{sniHosts: [outbound_.15010_._.istiod.istio-system.svc.cluster.local]}], route: [{destination: {host: istio.istio-system.svc.cluster.local}}]}]\n"},
		{name: "deprecated mirror", spec: "  hosts: [foo.bar]\n  gateways: [ns1/gateway]\n  http: [{mirrorPercent: 5, " + toFooBaz + "}]\n",
			warns: []string{`spec.http[0].mirrorPercent: using deprecated setting "mirrorPercent", use "mirrorPercentage" instead`}},
		{name: "set authority", spec: vsRule("{headers: {request: {set: {':authority': foo}}}, " + toFooBaz + "}")},
		{name: "set authority in destination", spec: vsRule("{route: [{destination: {host: foo.baz}, headers: {request: {set: {':authority': foo}}}}]}")},
		{name: "set authority in rewrite and header", spec: vsRule("{headers: {request: {set: {':authority': foo}}}, rewrite: {authority: bar}, " + toFooBaz + "}"),
			errs: []string{`spec.http[0].headers: authority header cannot be set multiple times: have "bar", attempting to set "foo"`}},
		{name: "non-method-get", spec: vsRule("{" + toFooBaz + ", match: [{uri: {prefix: /api/v1/product}}, {uri: {prefix: /api/v1/products}, method: {exact: GET}}]}"),
			warns: []string{"spec.http[0].match[1]: virtualService rule #0 match #1 of prefix /api/v1/products is not used (duplicate/overlapping match in rule #0 of prefix /api/v1/product on #0)"}},
		{name: "uri-with-prefix-exact", spec: vsRule("{" + toFooBaz + ", match: [{uri: {prefix: /}}, {uri: {exact: /}, method: {exact: GET}}]}")},
		{name: "jwt claim route without gateway (mesh)", spec: "  hosts: [foo.bar]\n  gateways: [mesh]\n  http: [{" + toFooBaz + ", match: [{uri: {prefix: /}, headers: {'@request.auth.claims.foo': {exact: bar}}}]}]\n",
			errs: []string{"spec.http[0].match[0]: JWT claim based routing (key: @request.auth.claims.foo) is only supported for gateway, found no gateways: [mesh]"}},
		{name: "ip address as sni host", spec: "  hosts: [foo.bar]\n  tls: [{route: [{destination: {host: foo.baz}}], match: [{port: 999, sniHosts: [1.1.1.1]}]}]\n",
			warns: []string{`spec.tls[0].match[0].sniHosts[0]: using an IP address ("1.1.1.1") goes against SNI spec and most clients do not support this`}},
		{name: "invalid wildcard as sni host", spec: "  hosts: [foo.bar]\n  tls: [{route: [{destination: {host: foo.baz}}], match: [{port: 999, sniHosts: [foo.*.com]}]}]\n",
			errs: []string{`spec.tls[0].match[0].sniHosts[0]: domain name "*.com" invalid (label "*" invalid)`}},
	}
}

// istioRouteDestinationCases is TestValidateRouteDestination (14 cases),
// as the route of a tcp rule.
func istioRouteDestinationCases() []drCase {
	tcp := func(route string) string { return "  hosts: [foo.bar]\n  tcp: [{route: " + route + "}]\n" }
	const f = "spec.tcp[0].route"
	return []drCase{
		{name: "simple", spec: tcp("[{destination: {host: foo.baz}}]")},
		{name: "wildcard dash", spec: tcp("[{destination: {host: '*-foo.baz'}}]")},
		{name: "wildcard prefix", spec: tcp("[{destination: {host: '*foo.baz'}}]")},
		{name: "wildcard", spec: tcp("[{destination: {host: '*'}}]"),
			errs: []string{f + "[0].destination.host: invalid destination host *"}},
		{name: "bad wildcard", spec: tcp("[{destination: {host: 'foo.*'}}]"),
			errs: []string{f + `[0].destination.host: domain name "*" invalid (label "*" invalid)`}},
		{name: "bad fqdn", spec: tcp("[{destination: {host: default/baz}}]"),
			errs: []string{f + `[0].destination.host: domain name "default/baz" invalid (label "default/baz" invalid)`}},
		{name: "no destination", spec: tcp("[{destination: null}]"),
			errs: []string{f + "[0].destination: destination is required"}},
		{name: "weighted", spec: tcp("[{destination: {host: foo.baz.south}, weight: 25}, {destination: {host: foo.baz.east}, weight: 75}]")},
		{name: "weight < 0", spec: tcp("[{destination: {host: foo.baz.south}, weight: 5}, {destination: {host: foo.baz.east}, weight: -1}]"),
			errs: []string{f + "[1].weight: weight -1 < 0"}},
		{name: "total weight > 100", spec: tcp("[{destination: {host: foo.baz.south}, weight: 550}, {destination: {host: foo.baz.east}, weight: 500}]")},
		{name: "total weight < 100", spec: tcp("[{destination: {host: foo.baz.south}, weight: 49}, {destination: {host: foo.baz.east}, weight: 50}]")},
		{name: "total weight = 100", spec: tcp("[{destination: {host: foo.baz.south}, weight: 100}, {destination: {host: foo.baz.east}, weight: 0}]")},
		{name: "weight = 0", spec: tcp("[{destination: {host: foo.baz.south}, weight: 0}]")},
		{name: "total weight = 0 with multi RouteDestination", spec: tcp("[{destination: {host: foo.baz.south}, weight: 0}, {destination: {host: foo.baz.east}, weight: 0}]"),
			errs: []string{f + ": total destination weight = 0"}},
	}
}

// istioDestinationCases is TestValidateDestination (4 cases).
func istioDestinationCases() []drCase {
	return []drCase{
		{name: "empty", spec: vsRule("{route: [{destination: {}}]}"),
			errs: []string{"spec.http[0].route[0].destination.host: empty domain name not allowed"}},
		{name: "simple", spec: vsRule("{route: [{destination: {host: foo.bar}}]}")},
		{name: "full", spec: vsRule("{route: [{destination: {host: foo.bar, subset: shiny, port: {number: 5000}}}]}")},
		{name: "unnumbered-selector", spec: vsRule("{route: [{destination: {host: foo.bar, subset: shiny, port: {}}}]}"),
			errs: []string{"spec.http[0].route[0].destination.port.number: port number 0 must be in the range 1..65535"}},
	}
}

// istioHTTPFeatureCases are TestValidateCORSPolicy (6),
// TestValidateHTTPStatus (5), TestValidateHTTPFaultInjectionAbort (13),
// TestValidateHTTPFaultInjectionDelay (7), TestValidateHTTPRewrite (8),
// TestValidateUriRegexRewrite (5), TestValidateHTTPRedirect (11),
// TestValidateHTTPDirectResponse (10), TestValidateHTTPHeaderName (7) and
// TestValidateHTTPHeaderValue (8). A nil value (Istio's "nil" cases) is a
// rule without the field.
func istioHTTPFeatureCases() []drCase {
	const f = "spec.http[0]"
	const re2 = "; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)"
	cors := func(p string) string { return vsRule("{" + toFooBaz + ", corsPolicy: " + p + "}") }
	fault := func(v string) string { return vsRule("{" + toFooBaz + ", fault: " + v + "}") }
	abort := func(a string) string { return fault("{abort: " + a + "}") }
	delay := func(d string) string { return fault("{delay: " + d + "}") }
	rewrite := func(r string) string { return vsRule("{" + toFooBaz + ", rewrite: " + r + "}") }
	redirect := func(r string) string { return vsRule("{redirect: " + r + "}") }
	direct := func(d string) string { return vsRule("{directResponse: " + d + "}") }
	header := func(name string) string {
		return vsRule("{" + toFooBaz + ", match: [{headers: {'" + name + "': {exact: x}}}]}")
	}
	value := func(v string) string {
		return vsRule("{" + toFooBaz + ", headers: {response: {set: {name: '" + v + "'}}}}")
	}
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString([]byte(strings.Repeat("a", n))) }
	const validCORS = "allowMethods: [GET, POST], allowHeaders: [header1, header2], exposeHeaders: [header3], maxAge: 2s"
	const af = f + ".fault.abort"
	const df = f + ".fault.delay"
	const grpcBad = af + `.grpcStatus: gRPC status "BAD_STATUS" is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, for example 'NOT_FOUND'`
	return []drCase{
		// TestValidateCORSPolicy
		{name: "cors valid", spec: cors("{" + validCORS + "}")},
		{name: "cors bad method", spec: cors("{allowMethods: [GET, PUTT], allowHeaders: [header1, header2], exposeHeaders: [header3], maxAge: 2s}"),
			errs: []string{f + `.corsPolicy.allowMethods[1]: "PUTT" is not a supported HTTP method`}},
		{name: "cors bad header", spec: cors("{allowMethods: [GET, POST], allowHeaders: [header1, header2], exposeHeaders: [''], maxAge: 2s}"),
			errs: []string{f + ".corsPolicy.exposeHeaders[0]: header name cannot be empty"}},
		{name: "cors bad max age", spec: cors("{allowMethods: [GET, POST], allowHeaders: [header1, header2], exposeHeaders: [header3], maxAge: 2.000000042s}"),
			errs: []string{f + ".corsPolicy.maxAge: only durations to ms precision are supported", f + ".corsPolicy.maxAge: max_age duration is accurate only to seconds precision"}},
		{name: "cors empty matchType AllowOrigins", spec: cors("{allowOrigins: [{exact: ''}, {prefix: ''}, {regex: ''}], " + validCORS + "}"),
			errs: []string{
				f + ".corsPolicy.allowOrigins[0]: '' is not a valid match type for CORS allow origins",
				f + ".corsPolicy.allowOrigins[1]: '' is not a valid match type for CORS allow origins",
				f + ".corsPolicy.allowOrigins[2]: '' is not a valid match type for CORS allow origins"}},
		{name: "cors non empty matchType AllowOrigins", spec: cors("{allowOrigins: [{exact: exact}, {prefix: prefix}, {regex: regex}], " + validCORS + "}")},

		// TestValidateHTTPStatus, as a fault's abort status
		{name: "status -100", spec: abort("{httpStatus: -100}"), errs: []string{af + ".httpStatus: HTTP status -100 is not in range 200-599"}},
		{name: "status 0", spec: abort("{httpStatus: 0}"), errs: []string{af + ".httpStatus: HTTP status 0 is not in range 200-599"}},
		{name: "status 200", spec: abort("{httpStatus: 200}")},
		{name: "status 600", spec: abort("{httpStatus: 600}")},
		{name: "status 601", spec: abort("{httpStatus: 601}"), errs: []string{af + ".httpStatus: HTTP status 601 is not in range 200-599"}},

		// TestValidateHTTPFaultInjectionAbort
		{name: "abort nil", spec: delay("{fixedDelay: 3s}")},
		{name: "abort valid", spec: abort("{percentage: {value: 20}, httpStatus: 200}")},
		{name: "abort valid default", spec: abort("{httpStatus: 200}")},
		{name: "abort invalid http status", spec: abort("{percentage: {value: 20}, httpStatus: 9000}"),
			errs: []string{af + ".httpStatus: HTTP status 9000 is not in range 200-599"}},
		{name: "abort invalid low http status", spec: abort("{percentage: {value: 20}, httpStatus: 100}"),
			errs: []string{af + ".httpStatus: HTTP status 100 is not in range 200-599"}},
		{name: "abort valid percentage", spec: abort("{percentage: {value: 0.001}, httpStatus: 200}")},
		{name: "abort invalid fractional percent", spec: abort("{percentage: {value: -10.0}, httpStatus: 200}"),
			errs: []string{af + ".percentage.value: percentage -10 is neither 0.0, nor in range [0.0001, 100.0]"}},
		{name: "abort grpc: nil", spec: delay("{fixedDelay: 3s}")},
		{name: "abort grpc: valid", spec: abort("{percentage: {value: 20}, grpcStatus: DEADLINE_EXCEEDED}")},
		{name: "abort grpc: valid default percentage", spec: abort("{grpcStatus: DEADLINE_EXCEEDED}")},
		{name: "abort grpc: invalid status", spec: abort("{percentage: {value: 20}, grpcStatus: BAD_STATUS}"), errs: []string{grpcBad}},
		{name: "abort grpc: valid percentage", spec: abort("{percentage: {value: 0.001}, grpcStatus: INTERNAL}")},
		{name: "abort grpc: invalid fractional percent", spec: abort("{percentage: {value: -10.0}, grpcStatus: DEADLINE_EXCEEDED}"),
			errs: []string{af + ".percentage.value: percentage -10 is neither 0.0, nor in range [0.0001, 100.0]"}},

		// TestValidateHTTPFaultInjectionDelay
		{name: "delay nil", spec: abort("{httpStatus: 503}")},
		{name: "delay valid fixed", spec: delay("{percentage: {value: 20}, fixedDelay: 3s}")},
		{name: "delay valid default", spec: delay("{fixedDelay: 3s}")},
		{name: "delay invalid percent", spec: delay("{percentage: {value: 101}, fixedDelay: 3s}"),
			errs: []string{df + ".percentage.value: percentage 101 is neither 0.0, nor in range [0.0001, 100.0]"}},
		{name: "delay invalid delay", spec: delay("{percentage: {value: 20}, fixedDelay: 3.000000042s}"),
			errs: []string{df + ".fixedDelay: only durations to ms precision are supported"}},
		{name: "delay valid fractional percentage", spec: delay("{percentage: {value: 0.001}, fixedDelay: 3s}")},
		{name: "delay invalid fractional percentage", spec: delay("{percentage: {value: -10.0}, fixedDelay: 3s}"),
			errs: []string{df + ".percentage.value: percentage -10 is neither 0.0, nor in range [0.0001, 100.0]"}},

		// TestValidateHTTPRewrite
		{name: "rewrite nil in", spec: vsRule("{" + toFooBaz + "}")},
		{name: "rewrite uri and authority", spec: rewrite("{uri: /path/to/resource, authority: foobar.org}")},
		{name: "rewrite uri", spec: rewrite("{uri: /path/to/resource}")},
		{name: "rewrite authority", spec: rewrite("{authority: foobar.org}")},
		{name: "rewrite uriRegexRewrite", spec: rewrite(`{uriRegexRewrite: {match: '^/service/([^/]+)(/.*)$', rewrite: '\2/instance/\1'}}`)},
		{name: "rewrite uriRegexRewrite and authority", spec: rewrite(`{authority: foobar.org, uriRegexRewrite: {match: '^/service/([^/]+)(/.*)$', rewrite: '\2/instance/\1'}}`)},
		{name: "rewrite uriRegexRewrite and uri", spec: rewrite(`{uri: /path/to/resource, uriRegexRewrite: {match: '^/service/([^/]+)(/.*)$', rewrite: '\2/instance/\1'}}`),
			errs: []string{f + ".rewrite: rewrite may only contain one of URI or UriRegexRewrite"}},
		{name: "rewrite no uri, uriRegexRewrite, or authority", spec: rewrite("{}"),
			errs: []string{f + ".rewrite: rewrite must specify at least one of URI, UriRegexRewrite, or authority. Only one of URI or UriRegexRewrite may be specified"}},

		// TestValidateUriRegexRewrite
		{name: "uriRegexRewrite nil", spec: rewrite("{authority: foobar.org}")},
		{name: "uriRegexRewrite happy path", spec: rewrite(`{uriRegexRewrite: {match: '^/service/([^/]+)(/.*)$', rewrite: '\2/instance/\1'}}`)},
		{name: "uriRegexRewrite missing match", spec: rewrite(`{uriRegexRewrite: {rewrite: '\2/instance/\1'}}`),
			errs: []string{f + ".rewrite.uriRegexRewrite: UriRegexRewrite has errors: UriRegexRewrite requires both Rewrite and Match fields to be specified"}},
		{name: "uriRegexRewrite missing rewrite", spec: rewrite(`{uriRegexRewrite: {match: '^/service/([^/]+)(/.*)$'}}`),
			errs: []string{f + ".rewrite.uriRegexRewrite: UriRegexRewrite has errors: UriRegexRewrite requires both Rewrite and Match fields to be specified"}},
		{name: "uriRegexRewrite invalid regex patterns", spec: rewrite(`{uriRegexRewrite: {match: '[', rewrite: '['}}`),
			errs: []string{f + ".rewrite.uriRegexRewrite.match: UriRegexRewrite has errors: \"HTTPRewrite.UriRegexRewrite.Match\": error parsing regexp: missing closing ]: `[`" + re2}},

		// TestValidateHTTPRedirect
		{name: "redirect nil", spec: vsRule("{" + toFooBaz + "}")},
		{name: "redirect empty uri and authority", spec: redirect("{uri: '', authority: ''}"),
			errs: []string{f + ".redirect: redirect must specify URI, authority, scheme, or port"}},
		{name: "redirect too small redirect code", spec: redirect("{uri: t, authority: '', redirectCode: 299}"),
			errs: []string{f + ".redirect.redirectCode: 299 is not a valid redirect code, must be 3xx"}},
		{name: "redirect too large redirect code", spec: redirect("{uri: t, authority: '', redirectCode: 400}"),
			errs: []string{f + ".redirect.redirectCode: 400 is not a valid redirect code, must be 3xx"}},
		{name: "redirect empty authority", spec: redirect("{uri: t, authority: ''}")},
		{name: "redirect empty uri", spec: redirect("{uri: '', authority: t}")},
		{name: "redirect empty redirect code", spec: redirect("{uri: t, authority: t, redirectCode: 0}")},
		{name: "redirect normal redirect", spec: redirect("{uri: t, authority: t, redirectCode: 308}")},
		{name: "redirect prefix_rewrite alone", spec: redirect("{prefixRewrite: /bar}")},
		{name: "redirect prefix_rewrite with authority", spec: redirect("{authority: foo.example.com, prefixRewrite: /}")},
		{name: "redirect uri and prefix_rewrite mutually exclusive", spec: redirect("{uri: /old, prefixRewrite: /new}"),
			errs: []string{f + ".redirect: redirect may only specify one of uri or prefix_rewrite"}},

		// TestValidateHTTPDirectResponse
		{name: "direct response nil", spec: vsRule("{" + toFooBaz + "}")},
		{name: "direct response status 200", spec: direct("{status: 200}")},
		{name: "direct response status 100", spec: direct("{status: 199}"),
			errs: []string{f + ".directResponse.status: HTTP status 199 is not in range 200-599"}},
		{name: "direct response status 600", spec: direct("{status: 601}"),
			errs: []string{f + ".directResponse.status: HTTP status 601 is not in range 200-599"}},
		{name: "direct response with string body", spec: direct("{status: 200, body: {string: hello}}")},
		{name: "direct response with string body over 100kb", spec: direct("{status: 200, body: {string: " + strings.Repeat("a", 101*1024) + "}}"),
			warns: []string{f + ".directResponse.body: large direct_responses may impact control plane performance"}},
		{name: "direct response with string body over 1mb", spec: direct("{status: 200, body: {string: " + strings.Repeat("a", 2*1024*1024) + "}}"),
			errs: []string{f + ".directResponse.body: large direct_responses may impact control plane performance, must be less than 1MB"}},
		{name: "direct response with bytes body", spec: direct("{status: 200, body: {bytes: " + base64.StdEncoding.EncodeToString([]byte("hello")) + "}}")},
		{name: "direct response with bytes body over 100kb", spec: direct("{status: 200, body: {bytes: " + b64(100*1024+1) + "}}"),
			warns: []string{f + ".directResponse.body: large direct_responses may impact control plane performance"}},
		{name: "direct response with bytes body over 1mb", spec: direct("{status: 200, body: {bytes: " + b64(1024*1024+1) + "}}"),
			errs: []string{f + ".directResponse.body: large direct_responses may impact control plane performance, must be less than 1MB"}},

		// TestValidateHTTPHeaderName, as header matches
		{name: "header name header1", spec: header("header1")},
		{name: "header name X-Requested-With", spec: header("X-Requested-With")},
		{name: "header name :authority", spec: header(":authority")},
		{name: "header name funky!$#_", spec: header("funky!$#_")},
		{name: "header name empty", spec: header(""), errs: []string{f + ".match[0].headers.: header name cannot be empty"}},
		{name: "header name ::", spec: header("::"), errs: []string{f + ".match[0].headers.::: header name :: is not a valid header name"}},
		{name: `header name illegal"char`, spec: header(`illegal"char`), errs: []string{f + `.match[0].headers.illegal"char: header name illegal"char is not a valid header name`}},

		// TestValidateHTTPHeaderValue. Istio's table pins messages that its
		// function does not give ("header value configuration %START_TIME%%
		// is invalid") and checks only that there is an error; these are
		// the messages ValidateHTTPHeaderValue gives.
		{name: "header value foo", spec: value("foo")},
		{name: "header value %HOSTNAME%", spec: value("%HOSTNAME%")},
		{name: "header value 100%%", spec: value("100%%")},
		{name: "header value prefix %HOSTNAME% suffix", spec: value("prefix %HOSTNAME% suffix")},
		{name: "header value with arguments", spec: value("%DOWNSTREAM_PEER_CERT_V_END(%b %d %H:%M:%S %Y %Z)%")},
		{name: "header value dynamic metadata", spec: value("%DYNAMIC_METADATA(com.test.my_filter)%")},
		{name: "header value %START_TIME%%", spec: value("%START_TIME%%"),
			errs: []string{f + ".headers.response.set.name: header value configuration: invalid header configuration. Un-escaped %"}},
		{name: "header value abc%123", spec: value("abc%123"),
			errs: []string{f + ".headers.response.set.name: header value configuration: invalid header configuration. Un-terminated variable expression 'abc%123'"}},
	}
}

// vsSchemaCases are what Istio leaves to the CRD schema, in Sluice's
// wording, and checks of Istio's that its tables leave out (SNI hosts
// outside the hosts, bad subnets, unreachable rules).
func vsSchemaCases() []drCase {
	const f = "spec.http[0]"
	tls := func(match string) string {
		return "  hosts: [a.example.com, '*.b.example.com']\n  tls: [{match: [" + match + "], route: [{destination: {host: a.example.com}}]}]\n"
	}
	return []drCase{
		{name: "misspelt key in a redirect", spec: vsRule("{redirect: {uri: /a, redirectCod: 301}}"),
			errs: []string{f + `.redirect.redirectCod: unknown key "redirectCod" (known keys: authority, derivePort, port, prefixRewrite, redirectCode, scheme, uri)`}},
		{name: "misspelt key in a fault", spec: vsRule("{" + toFooBaz + ", fault: {abort: {httpStatus: 503, percent: {value: 1}}}}"),
			errs: []string{f + `.fault.abort.percent: unknown key "percent" (known keys: grpcStatus, http2Error, httpStatus, percentage)`}},
		{name: "lower-case derivePort refused, as the API server does", spec: vsRule("{redirect: {derivePort: from_request_port}}"),
			errs: []string{f + `.redirect.derivePort: unsupported value "from_request_port" (want FROM_PROTOCOL_DEFAULT, FROM_REQUEST_PORT)`}},
		{name: "redirect port and derivePort together", spec: vsRule("{redirect: {port: 8080, derivePort: FROM_REQUEST_PORT}}"),
			errs: []string{f + ".redirect: only one of port, derivePort may be set"}},
		{name: "redirect port out of range", spec: vsRule("{redirect: {port: 70000}}"),
			errs: []string{f + ".redirect.port: port number 70000 must be in the range 1..65535"}},
		{name: "bad redirect scheme", spec: vsRule("{redirect: {scheme: ftp}}"),
			errs: []string{f + `.redirect.scheme: invalid redirect scheme, must be "http" or "https"`}},
		{name: "unknown unmatchedPreflights", spec: vsRule("{" + toFooBaz + ", corsPolicy: {unmatchedPreflights: forward}}"),
			errs: []string{f + `.corsPolicy.unmatchedPreflights: unsupported value "forward" (want UNSPECIFIED, FORWARD, IGNORE)`}},
		{name: "weight beyond int32", spec: vsRule("{route: [{destination: {host: foo.baz}, weight: 3000000000}]}"),
			errs: []string{f + ".route[0].weight: 3000000000 is out of range -2147483648..2147483647"}},
		{name: "direct response bytes not base64", spec: vsRule("{directResponse: {status: 200, body: {bytes: '*'}}}"),
			errs: []string{f + `.directResponse.body.bytes: invalid base64 "*"`}},
		{name: "fault without abort or delay", spec: vsRule("{" + toFooBaz + ", fault: {}}"),
			errs: []string{f + ".fault: HTTP fault injection must have an abort and/or a delay"}},
		{name: "abort without an error type", spec: vsRule("{" + toFooBaz + ", fault: {abort: {percentage: {value: 5}}}}"),
			warns: []string{f + ".fault.abort: abort configured, but error type not set"}},
		{name: "HTTP/2 abort", spec: vsRule("{" + toFooBaz + ", fault: {abort: {http2Error: x}}}"),
			errs: []string{f + ".fault.abort.http2Error: HTTP/2 abort fault injection not supported yet"}},
		{name: "exponential delay", spec: vsRule("{" + toFooBaz + ", fault: {delay: {exponentialDelay: 1s}}}"),
			errs: []string{f + ".fault.delay.exponentialDelay: exponentialDelay not supported yet"}},
		{name: "request header with a colon, response Host", spec: vsRule("{" + toFooBaz + ", headers: {request: {set: {':path': /x}}, response: {remove: [Host]}}}"),
			errs: []string{f + `.headers.request.set.:path: invalid header ":path": header cannot have ":" prefix`, f + `.headers.response.remove[0]: invalid header "Host": cannot set Host header`}},
		{name: "SNI host covered by a wildcard host", spec: tls("{sniHosts: [x.b.example.com, a.example.com]}")},
		{name: "SNI host outside the hosts", spec: tls("{sniHosts: [c.example.com, '*.example.com']}"),
			errs: []string{
				`spec.tls[0].match[0].sniHosts[0]: SNI host "c.example.com" is not a compatible subset of any of the virtual service hosts: [a.example.com, *.b.example.com]`,
				`spec.tls[0].match[0].sniHosts[1]: SNI host "*.example.com" is not a compatible subset of any of the virtual service hosts: [a.example.com, *.b.example.com]`}},
		{name: "TLS match without SNI hosts, bad subnet, port, labels", spec: tls("{destinationSubnets: [10.0.0.0/33, 10.0.0.1, x], port: 70000, sourceLabels: {'-a': b}}"),
			errs: []string{
				"spec.tls[0].match[0].sniHosts: TLS match must have at least one SNI host",
				"spec.tls[0].match[0].destinationSubnets[0]: 10.0.0.0/33 is not a valid CIDR block",
				"spec.tls[0].match[0].destinationSubnets[2]: x is not a valid IP",
				"spec.tls[0].match[0].port: port number 70000 must be in the range 1..65535",
				`spec.tls[0].match[0].sourceLabels: invalid tag key: "-a"`}},
		{name: "TCP match with bad gateway and port", spec: "  hosts: [foo.bar]\n  tcp: [{match: [{port: -1, gateways: ['ns/*']}], route: [{destination: {host: foo.bar}}]}]\n",
			errs: []string{"spec.tcp[0].match[0].port: -1 is out of range 0..4294967295", "spec.tcp[0].match[0].port: port number -1 must be in the range 1..65535",
				`spec.tcp[0].match[0].gateways: invalid value for gateway name: "*"`}},
		{name: "bad outbound SNI name", spec: "  hosts: [outbound_.x_._.foo.com]\n  gateways: [ns1/gateway]\n  tls: [{match: [{sniHosts: [outbound_.x_._.foo.com]}], route: [{destination: {host: foo.com}}]}]\n",
			errs: []string{`spec.hosts[0]: domain name "outbound_.x_._.foo.com" invalid (label "x" invalid). should follow outbound_.<PORT>_._.<HOSTNAME> format`,
				`spec.tls[0].match[0].sniHosts[0]: domain name "outbound_.x_._.foo.com" invalid (label "x" invalid). should follow outbound_.<PORT>_._.<HOSTNAME> format`}},
		{name: "only the last rule may have no matches", spec: "  hosts: [foo.bar]\n  http: [{" + toFooBaz + "}, {name: second, " + toFooBaz + "}, {match: [{uri: {exact: /a}}], " + toFooBaz + "}]\n",
			warns: []string{`spec.http[1]: virtualService rule "second" not used (only the last rule can have no matches)`,
				`spec.http[2]: virtualService rule #2 not used (route without matches defined before)`}},
		{name: "a rule whose every match an earlier rule has", spec: "  hosts: [foo.bar]\n  http: [{match: [{uri: {exact: /a}}], " + toFooBaz + "}, {match: [{name: again, uri: {exact: /a}}], " + toFooBaz + "}]\n",
			warns: []string{`spec.http[1].match[0]: virtualService rule #1 match "again" is not used (duplicate/overlapping match in rule #0)`,
				`spec.http[1]: virtualService rule #1 not used (all matches used by prior rules)`}},
		{name: "duplicate TCP match", spec: "  hosts: [foo.bar]\n  tcp: [{match: [{port: 5432}], route: [{destination: {host: foo.bar}}]}, {match: [{port: 5432}], route: [{destination: {host: foo.bar}}]}]\n",
			warns: []string{"spec.tcp[1].match[0]: virtualService rule #1 match #0 is not used (duplicate/overlapping match in rule #0)",
				"spec.tcp[1]: virtualService rule #1 not used (all matches used by prior rules)"}},
		{name: "hosts differing in case are not duplicates", spec: "  hosts: [A.example.com, a.example.com]\n  http: [{" + toFooBaz + "}]\n"},
		{name: "JWT routing with mesh among gateways", spec: "  hosts: [foo.bar]\n  gateways: [mesh, ns/gw]\n  http: [{" + toFooBaz + ", match: [{headers: {'@request.auth.claims.sub': {exact: x}}}]}]\n",
			errs: []string{"spec.http[0].match[0]: JWT claim based routing (key: @request.auth.claims.sub) is only supported for gateway, found no gateways: [mesh ns/gw]"}},
	}
}

// istioVSTables are every ported VirtualService table, by Istio's name.
func istioVSTables() map[string][]drCase {
	return map[string][]drCase{
		"TestValidateHTTPRoute":                istioHTTPRouteCases(),
		"TestValidateRootHTTPRoute":            istioRootHTTPRouteCases(),
		"TestValidateDelegateHTTPRoute":        istioDelegateHTTPRouteCases(),
		"TestValidateChainingVirtualService":   istioChainingVirtualServiceCases(),
		"TestValidateVirtualService":           istioVirtualServiceMoreCases(),
		"TestValidateRouteDestination":         istioRouteDestinationCases(),
		"TestValidateDestination":              istioDestinationCases(),
		"TestValidateHTTPFeatures (CORS etc.)": istioHTTPFeatureCases(),
		"CRD schema and more":                  vsSchemaCases(),
	}
}

// TestIstioVSTables runs the ported tables through Parse and Build.
func TestIstioVSTables(t *testing.T) {
	for table, cases := range istioVSTables() {
		for _, tc := range cases {
			t.Run(table+"/"+tc.name, func(t *testing.T) {
				errs, warns := findings(t, vsDoc(tc.spec))
				checkFindings(t, errs, appliedWarnings(warns), tc.errs, tc.warns)
			})
		}
	}
}

// appliedWarnings drops the warnings that a field is not applied by
// Sluice, or that a resource names no declared host.
func appliedWarnings(warns []string) []string {
	var kept []string
	for _, w := range warns {
		if !strings.Contains(w, ": not applied by sluice: ") && !strings.Contains(w, "has no effect in sluice") {
			kept = append(kept, w)
		}
	}
	return kept
}

// TestUnappliedVSFieldsWarn: every http feature Sluice validates but
// does not apply is, once valid, a warning naming it.
func TestUnappliedVSFieldsWarn(t *testing.T) {
	spec := "  hosts: [foo.bar]\n  http:\n" +
		"  - {match: [{uri: {prefix: /r}}], redirect: {uri: /x}}\n" +
		"  - {match: [{uri: {prefix: /d}}], directResponse: {status: 204}}\n" +
		"  - {match: [{uri: {prefix: /f}}], " + toFooBar + ", rewrite: {uri: /y}, fault: {delay: {fixedDelay: 1s}}, mirror: {host: m.bar}," +
		" mirrorPercentage: {value: 5}, corsPolicy: {allowMethods: [GET]}, headers: {request: {set: {x-a: b}}}}\n" +
		"  - {" + delegates + "}\n"
	_, warns := findings(t, vsDoc(spec))
	for _, name := range []string{"redirect", "directResponse", "rewrite", "fault", "mirror", "mirrorPercentage", "corsPolicy", "headers", "delegate"} {
		found := false
		for _, w := range warns {
			found = found || strings.Contains(w, ": not applied by sluice: "+name+" has no effect")
		}
		if !found {
			t.Errorf("no warning that %s is not applied: %q", name, warns)
		}
	}
}
