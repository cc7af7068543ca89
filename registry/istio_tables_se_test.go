package registry

import (
	"strings"
	"testing"
)

// The ServiceEntry tables of istio/istio pkg/config/validation at
// 86c9f01: TestValidateServiceEntries (validation_test.go, all 62 cases)
// and TestValidatePortName (4 cases), as YAML, each with the findings
// Istio gives ("field: message"; a case Istio calls valid lists no
// errors, one it says warns lists its warnings). Nothing is skipped: the
// one case that needs metadata (a use-waypoint label) carries it.
// validate_test.go holds Sluice's earlier, smaller ServiceEntry cases.

const (
	httpPorts2 = "  ports: [{number: 80, protocol: http, name: http-valid1}, {number: 8080, protocol: http, name: http-valid2}]\n"
	httpPort1  = "  ports: [{number: 80, protocol: http, name: http-valid1}]\n"
	twoEPs     = "  endpoints: [{address: lon.google.com, ports: {http-valid1: 8080}}, {address: in.google.com, ports: {http-valid2: 9080}}]\n"
	staticEPs  = "  endpoints: [{address: 1.1.1.1, ports: {http-valid1: 8080}}, {address: 2.2.2.2, ports: {http-valid2: 9080}}]\n"
	dynDNS     = "DYNAMIC_DNS"
)

// seMeta is a ServiceEntry document with the given metadata labels.
func seMeta(labels, spec string) string {
	return "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: se, namespace: ns, labels: " + labels + "}\nspec:\n" + spec
}

// istioServiceEntryCases is TestValidateServiceEntries; doc, when set,
// is the whole document (for cases that need metadata).
func istioServiceEntryCases() []struct {
	drCase
	doc string
} {
	type c = drCase
	res := func(r string) string { return "  resolution: " + r + "\n" }
	const dnsFQDN = `hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode DNS, `
	const noSelNone = "spec.workloadSelector: workloadSelector should not be set when resolution mode is NONE"
	const tcpWarn = "addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is not enabled"
	cases := []c{
		{name: "discovery type DNS", spec: "  hosts: ['*.google.com']\n" + httpPorts2 + twoEPs + res("DNS")},
		{name: "discovery type DNS Round Robin", spec: "  hosts: ['*.istio.io']\n" + httpPorts2 +
			"  endpoints: [{address: api-v1.istio.io, ports: {http-valid1: 8080}}]\n" + res("DNS_ROUND_ROBIN")},
		{name: "discovery type DNS, label tlsMode: istio", spec: "  hosts: ['*.google.com']\n" + httpPorts2 +
			"  endpoints: [{address: lon.google.com, ports: {http-valid1: 8080}, labels: {security.istio.io/tlsMode: istio}}, {address: in.google.com, ports: {http-valid2: 9080}, labels: {security.istio.io/tlsMode: istio}}]\n" + res("DNS")},
		{name: "discovery type DNS, one host set with IP address and https port", spec: "  hosts: [httpbin.org]\n  addresses: [10.10.10.10]\n" +
			"  ports: [{number: 80, protocol: http, name: http-valid1}, {number: 8080, protocol: http, name: http-valid2}, {number: 443, protocol: https, name: https}]\n" + res("DNS")},
		{name: "discovery type DNS, multi hosts set with IP address and https port", spec: "  hosts: [httpbin.org, wikipedia.org]\n  addresses: [10.10.10.10]\n" +
			"  ports: [{number: 80, protocol: http, name: http-valid1}, {number: 8080, protocol: http, name: http-valid2}, {number: 443, protocol: https, name: https}]\n" + res("DNS"),
			warns: []string{"spec.hosts: service entry can not have more than one host specified simultaneously with address and tcp port"}},
		{name: "discovery type DNS, IP address set", spec: "  hosts: ['*.google.com']\n  addresses: [10.10.10.10]\n" + httpPorts2 + twoEPs + res("DNS")},
		{name: "discovery type DNS, IP in endpoints", spec: "  hosts: ['*.google.com']\n" + httpPorts2 +
			"  endpoints: [{address: 1.1.1.1, ports: {http-valid1: 8080}}, {address: in.google.com, ports: {http-valid2: 9080}}]\n" + res("DNS")},
		{name: "discovery type DYNAMIC_DNS", spec: "  hosts: ['*.google.com']\n" + httpPorts2 + res(dynDNS)},
		{name: "empty hosts", spec: httpPort1 + "  endpoints: [{address: in.google.com, ports: {http-valid2: 9080}}]\n" + res("DNS"),
			errs: []string{"spec.hosts: service entry must have at least one host", "spec.endpoints[0].ports.http-valid2: endpoint port 9080 is not defined by the service entry"}},
		{name: "bad hosts", spec: "  hosts: ['-']\n" + httpPort1 + "  endpoints: [{address: in.google.com, ports: {http-valid2: 9080}}]\n" + res("DNS"),
			errs: []string{`spec.hosts[0]: domain name "-" invalid (label "-" invalid)`, "spec.endpoints[0].ports.http-valid2: endpoint port 9080 is not defined by the service entry"}},
		{name: "full wildcard host", spec: "  hosts: [foo.com, '*']\n" + httpPort1 + "  endpoints: [{address: in.google.com, ports: {http-valid2: 9080}}]\n" + res("DNS"),
			errs: []string{"spec.hosts[1]: invalid host *", "spec.endpoints[0].ports.http-valid2: endpoint port 9080 is not defined by the service entry"}},
		{name: "short name host", spec: "  hosts: [foo, bar.com]\n" + httpPort1 + "  endpoints: [{address: in.google.com, ports: {http-valid1: 9080}}]\n" + res("DNS")},
		{name: "undefined endpoint port", spec: "  hosts: [google.com]\n  ports: [{number: 80, protocol: http, name: http-valid1}, {number: 80, protocol: http, name: http-valid2}]\n" +
			"  endpoints: [{address: lon.google.com, ports: {http-valid1: 8080}}, {address: in.google.com, ports: {http-dne: 9080}}]\n" + res("DNS"),
			errs: []string{"spec.ports[1].number: service entry port 80 already defined", "spec.endpoints[1].ports.http-dne: endpoint port 9080 is not defined by the service entry"}},
		{name: "discovery type DNS, non-FQDN endpoint", spec: "  hosts: ['*.google.com']\n" + httpPorts2 +
			"  endpoints: [{address: '*.lon.google.com', ports: {http-valid1: 8080}}, {address: in.google.com, ports: {http-dne: 9080}}]\n" + res("DNS"),
			errs: []string{`spec.endpoints[0].address: endpoint address "*.lon.google.com" is not a valid FQDN or an IP address`,
				"spec.endpoints[1].ports.http-dne: endpoint port 9080 is not defined by the service entry"}},
		{name: "discovery type DNS, non-FQDN host", spec: "  hosts: ['*.google.com']\n" + httpPorts2 + res("DNS"),
			errs: []string{"spec.hosts[0]: " + dnsFQDN + `domain name "*.google.com" invalid (label "*" invalid)`}},
		{name: "discovery type DNS, no endpoints", spec: "  hosts: [google.com]\n" + httpPorts2 + res("DNS")},
		{name: "discovery type DNS, unix endpoint", spec: "  hosts: ['*.google.com']\n" + httpPort1 + "  endpoints: [{address: 'unix:///lon/google/com'}]\n" + res("DNS"),
			errs: []string{`spec.endpoints[0].address: endpoint address "unix:///lon/google/com" is not a valid FQDN or an IP address`}},
		{name: "discovery type none", spec: "  hosts: [google.com]\n" + httpPorts2 + res("NONE")},
		{name: "discovery type none, endpoints provided", spec: "  hosts: [google.com]\n" + httpPorts2 + "  endpoints: [{address: lon.google.com, ports: {http-valid1: 8080}}]\n" + res("NONE"),
			errs: []string{"spec.endpoints: no endpoints should be provided for resolution type none"}},
		{name: "discovery type none, cidr addresses", spec: "  hosts: [google.com]\n  addresses: [172.1.2.16/16]\n" + httpPorts2 + res("NONE")},
		{name: "discovery type static, cidr addresses with endpoints", spec: "  hosts: [google.com]\n  addresses: [172.1.2.16/16]\n" + httpPorts2 + staticEPs + res("STATIC")},
		{name: "discovery type static", spec: "  hosts: [google.com]\n  addresses: [172.1.2.16]\n" + httpPorts2 + staticEPs + res("STATIC")},
		{name: "discovery type static, FQDN in endpoints", spec: "  hosts: [google.com]\n  addresses: [172.1.2.16]\n" + httpPorts2 +
			"  endpoints: [{address: google.com, ports: {http-valid1: 8080}}, {address: 2.2.2.2, ports: {http-valid2: 9080}}]\n" + res("STATIC"),
			errs: []string{`spec.endpoints[0].address: endpoint address "google.com" is not a valid IP address`}},
		{name: "discovery type static, missing endpoints", spec: "  hosts: [google.com]\n  addresses: [172.1.2.16]\n" + httpPorts2 + res("STATIC")},
		{name: "discovery type static, bad endpoint port name", spec: "  hosts: [google.com]\n  addresses: [172.1.2.16]\n" + httpPorts2 +
			"  endpoints: [{address: 1.1.1.1, ports: {http-valid1: 8080}}, {address: 2.2.2.2, ports: {http-dne: 9080}}]\n" + res("STATIC"),
			errs: []string{"spec.endpoints[1].ports.http-dne: endpoint port 9080 is not defined by the service entry"}},
		{name: "discovery type none, conflicting port names", spec: "  hosts: [google.com]\n  ports: [{number: 80, protocol: http, name: http-conflict}, {number: 8080, protocol: http, name: http-conflict}]\n" + res("NONE"),
			errs: []string{`spec.ports[1].name: service entry port name "http-conflict" already defined`}},
		{name: "discovery type none, conflicting port numbers", spec: "  hosts: [google.com]\n  ports: [{number: 80, protocol: http, name: http-conflict1}, {number: 80, protocol: http, name: http-conflict2}]\n" + res("NONE"),
			errs: []string{"spec.ports[1].number: service entry port 80 already defined"}},
		{name: "unix socket", spec: "  hosts: [uds.cluster.local]\n  ports: [{number: 6553, protocol: grpc, name: grpc-service1}]\n" + res("STATIC") +
			"  endpoints: [{address: 'unix:///path/to/socket'}]\n"},
		{name: "unix socket, relative path", spec: "  hosts: [uds.cluster.local]\n  ports: [{number: 6553, protocol: grpc, name: grpc-service1}]\n" + res("STATIC") +
			"  endpoints: [{address: 'unix://./relative/path.sock'}]\n",
			errs: []string{"spec.endpoints[0].address: ./relative/path.sock is not an absolute path to a file"}},
		{name: "unix socket, endpoint ports", spec: "  hosts: [uds.cluster.local]\n  ports: [{number: 6553, protocol: grpc, name: grpc-service1}]\n" + res("STATIC") +
			"  endpoints: [{address: 'unix:///path/to/socket', ports: {grpc-service1: 6553}}]\n",
			errs: []string{"spec.endpoints[0].ports: unix endpoint unix:///path/to/socket must not include ports"}},
		{name: "unix socket, multiple service ports", spec: "  hosts: [uds.cluster.local]\n  ports: [{number: 6553, protocol: grpc, name: grpc-service1}, {number: 80, protocol: http, name: http-service2}]\n" +
			res("STATIC") + "  endpoints: [{address: 'unix:///path/to/socket'}]\n",
			errs: []string{"spec.ports: exactly 1 service port required for unix endpoints"}},
		{name: "empty protocol", spec: "  hosts: [google.com]\n  addresses: [172.1.2.16/16]\n  ports: [{number: 80, protocol: http, name: http-valid1}, {number: 8080, name: http-valid2}]\n" + res("NONE")},
		{name: "selector", spec: "  hosts: [google.com]\n  workloadSelector: {labels: {foo: bar}}\n" + httpPort1,
			warns: []string{noSelNone}},
		{name: "workload selector without labels", spec: "  hosts: [google.com]\n" + httpPorts2 + "  workloadSelector: {}\n",
			warns: []string{"spec.workloadSelector: service entry: workload selector specified without labels, will be applied to all services in namespace", noSelNone}},
		{name: "selector and endpoints", spec: "  hosts: [google.com]\n  workloadSelector: {labels: {foo: bar}}\n" + httpPort1 + "  endpoints: [{address: 1.1.1.1}]\n",
			errs:  []string{"spec.workloadSelector: only one of WorkloadSelector or Endpoints is allowed in Service Entry", "spec.endpoints: no endpoints should be provided for resolution type none"},
			warns: []string{noSelNone}},
		{name: "selector and resolution NONE", spec: "  hosts: [google.com]\n  workloadSelector: {labels: {foo: bar}}\n" + httpPort1 + res("NONE"),
			warns: []string{noSelNone}},
		{name: "selector and resolution DNS", spec: "  hosts: [google.com]\n  workloadSelector: {labels: {foo: bar}}\n" + httpPort1 + res("DNS")},
		{name: "bad selector key", spec: "  hosts: [google.com]\n  workloadSelector: {labels: {'': bar}}\n" + httpPort1,
			errs: []string{`spec.workloadSelector.labels: empty key is not supported in selector: "=bar"`}},
		{name: "repeat target port", spec: "  hosts: [google.com]\n" + res("DNS") +
			"  ports: [{number: 80, protocol: http, name: http-valid1, targetPort: 80}, {number: 81, protocol: http, name: http-valid2, targetPort: 80}]\n"},
		{name: "valid target port", spec: "  hosts: [google.com]\n" + res("DNS") + "  ports: [{number: 80, protocol: http, name: http-valid1, targetPort: 81}]\n"},
		{name: "invalid target port", spec: "  hosts: [google.com]\n" + res("DNS") + "  ports: [{number: 80, protocol: http, name: http-valid1, targetPort: 65536}]\n",
			errs: []string{"spec.ports[0].targetPort: port number 65536 must be in the range 1..65535"}},
		{name: "warn target port", spec: "  hosts: [google.com]\n  workloadSelector: {labels: {key: bar}}\n  ports: [{number: 80, protocol: http, name: http-valid1, targetPort: 1234}]\n",
			warns: []string{noSelNone}},
		{name: "valid endpoint port", spec: "  hosts: [google.com]\n  ports: [{number: 80, protocol: http, name: http-valid1, targetPort: 81}]\n" + res("STATIC") +
			"  endpoints: [{address: 1.1.1.1, ports: {http-valid1: 8081}}]\n"},
		{name: "invalid endpoint port", spec: "  hosts: [google.com]\n  ports: [{number: 80, protocol: http, name: http-valid1, targetPort: 81}]\n" + res("STATIC") +
			"  endpoints: [{address: 1.1.1.1, ports: {http-valid1: 65536}}]\n",
			errs: []string{"spec.endpoints[0].ports.http-valid1: port number 65536 must be in the range 1..65535"}},
		{name: "protocol unset for addresses empty", spec: "  hosts: [google.com]\n  addresses: []\n  ports: [{number: 80, protocol: http, name: http-valid1}, {number: 8080, name: http-valid2}]\n" + res("NONE"),
			warns: []string{"spec.ports[1].protocol: " + tcpWarn}},
		{name: "protocol is TCP for addresses empty", spec: "  hosts: [google.com]\n  addresses: []\n  ports: [{number: 80, protocol: http, name: http-valid1}, {number: 81, protocol: TCP, name: tcp-valid1}]\n" + res("NONE"),
			warns: []string{"spec.ports[1].protocol: " + tcpWarn}},
		{name: "dns round robin with more than one endpoint", spec: "  hosts: [google.com]\n  addresses: []\n  ports: [{number: 8081, protocol: http, name: http-valid1}]\n" +
			"  endpoints: [{address: api-v1.istio.io, ports: {http-valid1: 8081}}, {address: 1.1.1.2, ports: {http-valid1: 8081}}]\n" + res("DNS_ROUND_ROBIN"),
			errs: []string{"spec.endpoints: there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN"}},
		{name: "dns round robin with 0 endpoints", spec: "  hosts: [google.com]\n  addresses: []\n  ports: [{number: 8081, protocol: http, name: http-valid1}]\n  endpoints: []\n" + res("DNS_ROUND_ROBIN")},
		{name: "partial wildcard hosts", spec: "  hosts: ['*.nytimes.com', '*washingtonpost.com']\n  addresses: []\n  ports: [{number: 443, protocol: HTTPS, name: https-nytimes}]\n  endpoints: []\n" + res("NONE"),
			warns: []string{`spec.hosts[1]: partial wildcard "*washingtonpost.com" not allowed`}},
		{name: "network set with no address on endpoint", spec: "  hosts: [www.example.com]\n  addresses: []\n  ports: [{number: 443, protocol: HTTPS, name: https-example}]\n  endpoints: [{network: cluster-1}]\n" + res("STATIC"),
			warns: []string{`spec.endpoints[0].address: address is unset with network "cluster-1"`}},
		{name: "discovery type DYNAMIC_DNS, unsupported TCP protocol", spec: "  hosts: ['*.google.com']\n  addresses: []\n  ports: [{number: 80, protocol: http, name: http-valid1}, {number: 81, protocol: TCP, name: tcp-valid1}]\n" + res(dynDNS),
			errs: []string{"spec.ports[1].protocol: only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type DYNAMIC_DNS"}},
		{name: "discovery type DYNAMIC_DNS, GRPC protocol", spec: "  hosts: ['*.svc.cluster.local']\n  addresses: []\n  ports: [{number: 9090, protocol: GRPC, name: grpc}]\n" + res(dynDNS)},
		{name: "discovery type DYNAMIC_DNS, FQDN host", spec: "  hosts: [google.com]\n  addresses: []\n  ports: [{number: 80, protocol: http, name: http-valid}]\n" + res(dynDNS),
			errs: []string{"spec.hosts[0]: host must be wildcarded for resolution mode DYNAMIC_DNS"}},
		{name: "discovery type DYNAMIC_DNS, endpoints set", spec: "  hosts: ['*.google.com']\n  addresses: []\n" + httpPort1 + "  endpoints: [{address: in.google.com, ports: {http-valid1: 9080}}]\n" + res(dynDNS),
			errs: []string{"spec.endpoints: endpoints cannot be set for resolution type DYNAMIC_DNS. Destination IP address determined from hostsfield values"}},
		{name: "discovery type DYNAMIC_DNS, IP address set", spec: "  hosts: ['*.google.com']\n  addresses: [10.10.10.10]\n" + httpPorts2 + res(dynDNS),
			errs: []string{"spec.addresses: addresses cannot be set for resolution type DYNAMIC_DNS. HTTP route domains will only be generatedfrom the hosts field values"}},
		{name: "discovery type DYNAMIC_DNS, empty hosts", spec: "  hosts: []\n  addresses: []\n" + httpPort1 + res(dynDNS),
			errs: []string{"spec.hosts: service entry must have at least one host", "spec.hosts: at least one wildcard host must be provided for resolution type DYNAMIC_DNS"}},
		{name: "discovery type DYNAMIC_DNS, multiple wildcarded hosts", spec: "  hosts: ['*.google.com', '*.amazon.com']\n  addresses: []\n" + httpPort1 + res(dynDNS)},
		{name: "discovery type DYNAMIC_DNS, internal mesh location", spec: "  hosts: ['*.google.com']\n  addresses: []\n" + httpPort1 + res(dynDNS) + "  location: MESH_INTERNAL\n"},
		{name: "discovery type DYNAMIC_DNS, MESH_INTERNAL with waypoint (invalid)",
			errs: []string{"spec.location: location MESH_INTERNAL with resolution type DYNAMIC_DNS is not supported when using waypoints"}},
		{name: "discovery type DYNAMIC_DNS, nil port", spec: "  hosts: ['*.google.com']\n  location: MESH_EXTERNAL\n  ports: [null]\n" + res(dynDNS),
			errs: []string{"spec.ports[0]: service entry port may not be null", "spec.ports[0]: port cannot be nil"}},
		{name: "nil port in ports array", spec: "  hosts: [google.com]\n  ports: [null]\n" + res("NONE"),
			errs: []string{"spec.ports[0]: service entry port may not be null"}},
		{name: "discovery type DNS with addresses, nil port", spec: "  hosts: [google.com]\n  addresses: [1.2.3.4]\n  ports: [null]\n" + res("DNS"),
			errs: []string{"spec.ports[0]: service entry port may not be null", "spec.ports[0]: ports cannot be nil"}},

		// TestValidatePortName, as the name of a ServiceEntry port
		{name: "port name empty", spec: "  hosts: [google.com]\n  ports: [{number: 80, protocol: http, name: ''}]\n",
			errs: []string{"spec.ports[0].name: invalid port name: "}},
		{name: "port name simple", spec: "  hosts: [google.com]\n  ports: [{number: 80, protocol: http, name: simple}]\n"},
		{name: "port name full", spec: "  hosts: [google.com]\n  ports: [{number: 80, protocol: http, name: full}]\n"},
		{name: "port name toolong", spec: "  hosts: [google.com]\n  ports: [{number: 80, protocol: http, name: " + strings.Repeat("toolong", 14) + "}]\n",
			errs: []string{"spec.ports[0].name: invalid port name: " + strings.Repeat("toolong", 14)}},

		// What the CRD schema checks, in Sluice's wording.
		{name: "lower-case resolution refused, as the API server does", spec: "  hosts: [google.com]\n" + httpPort1 + res("dns"),
			errs: []string{`spec.resolution: unsupported value "dns" (want NONE, STATIC, DNS, DNS_ROUND_ROBIN, DYNAMIC_DNS)`}},
		{name: "lower-case location refused", spec: "  hosts: [google.com]\n" + httpPort1 + "  location: mesh_external\n",
			errs: []string{"spec.location: unsupported location mesh_external (want MESH_EXTERNAL or MESH_INTERNAL)"}},
		{name: "bad endpoint label", spec: "  hosts: [google.com]\n" + httpPort1 + res("STATIC") + "  endpoints: [{address: 1.1.1.1, labels: {'a b': c}}]\n",
			errs: []string{`spec.endpoints[0].labels: invalid tag key: "a b"`}},
		{name: "null endpoint", spec: "  hosts: [google.com]\n" + httpPort1 + res("STATIC") + "  endpoints: [null]\n",
			errs: []string{"spec.endpoints[0]: endpoint cannot be nil"}},
		{name: "matchLabels is the DestinationRule's selector, not the ServiceEntry's", spec: "  hosts: [google.com]\n" + httpPort1 + "  workloadSelector: {matchLabels: {app: a}}\n",
			errs: []string{`spec.workloadSelector.matchLabels: unknown key "matchLabels" (known keys: labels)`}},
		{name: "more addresses than the CRD allows", spec: "  hosts: [google.com]\n" + httpPort1 + "  addresses: [" + strings.Repeat("10.0.0.1, ", 256) + "10.0.0.1]\n",
			errs: []string{"spec.addresses: must have at most 256 items"}},
		{name: "no address auto-allocated when the label opts out", spec: "  hosts: [google.com]\n  ports: [{number: 5432, protocol: TCP, name: pg}]\n" + res("DNS")},
	}
	out := make([]struct {
		drCase
		doc string
	}, len(cases))
	for i, tc := range cases {
		out[i].drCase = tc
		switch tc.name {
		case "discovery type DYNAMIC_DNS, MESH_INTERNAL with waypoint (invalid)":
			out[i].doc = seMeta("{istio.io/use-waypoint: my-waypoint}", "  hosts: ['*.google.com']\n  addresses: []\n"+httpPort1+res(dynDNS)+"  location: MESH_INTERNAL\n")
		case "no address auto-allocated when the label opts out":
			out[i].doc = seMeta("{networking.istio.io/enable-autoallocate-ip: 'false'}", tc.spec)
			out[i].warns = []string{"spec.ports[0].protocol: " + tcpWarn}
		}
	}
	return out
}

// TestIstioServiceEntryTables runs the ported table through Parse and
// Build.
func TestIstioServiceEntryTables(t *testing.T) {
	for _, tc := range istioServiceEntryCases() {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.doc
			if doc == "" {
				doc = seDoc(tc.spec)
			}
			errs, warns := findings(t, doc)
			checkFindings(t, errs, appliedWarnings(warns), tc.errs, tc.warns)
		})
	}
}
