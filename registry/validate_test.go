package registry

import (
	"strings"
	"testing"
)

// seDoc wraps a ServiceEntry spec (YAML, indented by two spaces) in a
// resource.
func seDoc(spec string) string {
	return "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: se, namespace: ns}\nspec:\n" + spec
}

func drDoc(spec string) string {
	return "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: dr, namespace: ns}\nspec:\n" + spec
}

// findings loads docs as one file and returns "field: message" for every
// error and warning.
func findings(t *testing.T, docs ...string) (errs, warns []string) {
	t.Helper()
	res, ds, _ := Parse("test.yaml", []byte(strings.Join(docs, "\n---\n")))
	if len(ds.Errors()) == 0 {
		_, bds := Build(res, BuildOptions{CredentialsDir: t.TempDir()})
		ds = append(ds, bds...)
	}
	for _, d := range ds {
		s := d.Field + ": " + d.Msg
		if d.Severity == SevError {
			errs = append(errs, s)
		} else {
			warns = append(warns, s)
		}
	}
	return errs, warns
}

const port443 = "  ports: [{number: 443, name: https, protocol: HTTPS}]\n"

// seCase is a ServiceEntry spec and every finding it must give, as
// "field: message"; a case that lists no warnings must give none.
type seCase struct {
	name  string
	spec  string
	errs  []string
	warns []string
}

func serviceEntryCases() []seCase {
	return []seCase{
		{name: "minimal DNS entry", spec: "  hosts: [api.example.com]\n  resolution: DNS\n" + port443},
		{name: "no hosts", spec: "  resolution: DNS\n" + port443,
			errs: []string{"spec.hosts: service entry must have at least one host"}},
		{name: "bare star", spec: "  hosts: ['*']\n" + port443,
			errs: []string{"spec.hosts[0]: invalid host *"}},
		{name: "wildcard not left-most", spec: "  hosts: ['api.*.example.com']\n" + port443,
			// Istio's message names the rest of the name after the first
			// label, and it also warns: both checks run on every host.
			errs:  []string{`spec.hosts[0]: domain name "*.example.com" invalid (label "*" invalid)`},
			warns: []string{`spec.hosts[0]: partial wildcard "api.*.example.com" not allowed`}},
		{name: "bad label", spec: "  hosts: ['-bad.example.com']\n" + port443,
			errs: []string{`spec.hosts[0]: domain name "-bad.example.com" invalid (label "-bad" invalid)`}},
		{name: "numeric TLD (an IP as host)", spec: "  hosts: ['1.2.3.4']\n" + port443,
			errs: []string{`spec.hosts[0]: domain name "2.3.4" invalid (top level domain "4" cannot be all-numeric)`}},
		{name: "trailing dot and upper case accepted", spec: "  hosts: [API.Example.COM.]\n  resolution: DNS\n" + port443},
		{name: "short host accepted", spec: "  hosts: [foo]\n" + port443},
		{name: "partial wildcard warns", spec: "  hosts: ['*example.com']\n" + port443,
			warns: []string{`spec.hosts[0]: partial wildcard "*example.com" not allowed`}},
		{name: "partial wildcard with DYNAMIC_DNS does not warn", spec: "  hosts: ['*example.com']\n  resolution: DYNAMIC_DNS\n  ports: [{number: 80, name: http, protocol: HTTP}]\n"},
		{name: "wildcard with DNS needs endpoints", spec: "  hosts: ['*.example.com']\n  resolution: DNS\n" + port443,
			errs: []string{`spec.hosts[0]: hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode DNS, domain name "*.example.com" invalid (label "*" invalid)`}},
		{name: "DNS without endpoints reports the first non-FQDN host only", spec: "  hosts: [a.example.com, '*.b.example.com', '*.c.example.com']\n  resolution: DNS\n" + port443,
			errs: []string{`spec.hosts[1]: hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode DNS, domain name "*.b.example.com" invalid (label "*" invalid)`}},
		{name: "wildcard with DNS and endpoints", spec: "  hosts: ['*.google.com']\n  resolution: DNS\n  endpoints: [{address: lon.google.com}, {address: in.google.com}]\n" + port443},
		{name: "NONE takes no endpoints", spec: "  hosts: [a.example.com]\n  resolution: NONE\n  endpoints: [{address: 1.1.1.1}]\n" + port443,
			errs: []string{"spec.endpoints: no endpoints should be provided for resolution type none"}},
		{name: "wildcard in a workload selector, reported alone", spec: "  hosts: [a.example.com]\n  workloadSelector: {labels: {val: '*'}}\n",
			errs: []string{`spec.workloadSelector.labels: wildcard is not supported in selector: "val=*"`}},
		{name: "workload selector without labels", spec: "  hosts: [a.example.com]\n  resolution: DNS\n  workloadSelector: {}\n" + port443,
			warns: []string{"spec.workloadSelector: service entry: workload selector specified without labels, will be applied to all services in namespace"}},
		{name: "NONE with a workload selector warns", spec: "  hosts: [a.example.com]\n  workloadSelector: {labels: {app: x}}\n" + port443,
			warns: []string{"spec.workloadSelector: workloadSelector should not be set when resolution mode is NONE"}},
		{name: "STATIC endpoint must be an IP", spec: "  hosts: [a.example.com]\n  resolution: STATIC\n  endpoints: [{address: db.example.com}]\n" + port443,
			errs: []string{`spec.endpoints[0].address: endpoint address "db.example.com" is not a valid IP address`}},
		{name: "STATIC endpoint needs an address", spec: "  hosts: [a.example.com]\n  resolution: STATIC\n  endpoints: [{address: ''}, {network: n1}]\n" + port443,
			errs:  []string{"spec.endpoints[0].address: address is required"},
			warns: []string{`spec.endpoints[1].address: address is unset with network "n1"`}},
		{name: "STATIC without endpoints accepted", spec: "  hosts: [a.example.com]\n  resolution: STATIC\n" + port443},
		{name: "STATIC unix endpoint needs one port", spec: "  hosts: [a.example.com]\n  resolution: STATIC\n  endpoints: [{address: 'unix:///var/run/x.sock'}]\n  ports: [{number: 80, name: http, protocol: HTTP}, {number: 81, name: http2, protocol: HTTP}]\n",
			errs: []string{"spec.ports: exactly 1 service port required for unix endpoints"}},
		{name: "STATIC unix endpoint is an absolute path without ports", spec: "  hosts: [a.example.com]\n  resolution: STATIC\n  endpoints: [{address: 'unix://run/x.sock', ports: {https: 1}}, {address: 'unix://'}, {address: 'unix://@abstract'}]\n" + port443,
			errs: []string{"spec.endpoints[0].address: run/x.sock is not an absolute path to a file", "spec.endpoints[0].ports: unix endpoint unix://run/x.sock must not include ports",
				"spec.endpoints[1].address: unix address must not be empty"}},
		{name: "endpoint port must be declared", spec: "  hosts: [a.example.com]\n  resolution: STATIC\n  endpoints: [{address: 10.0.0.1, ports: {grpc: 9000, Bad_Name: 70000}}]\n" + port443,
			errs: []string{"spec.endpoints[0].ports.Bad_Name: endpoint port 70000 is not defined by the service entry", "spec.endpoints[0].ports.Bad_Name: invalid port name: Bad_Name",
				"spec.endpoints[0].ports.Bad_Name: port number 70000 must be in the range 1..65535", "spec.endpoints[0].ports.grpc: endpoint port 9000 is not defined by the service entry"}},
		{name: "DNS endpoint must be FQDN or IP", spec: "  hosts: [a.example.com]\n  resolution: DNS\n  endpoints: [{address: 'bad_name!'}]\n" + port443,
			errs: []string{`spec.endpoints[0].address: endpoint address "bad_name!" is not a valid FQDN or an IP address`}},
		{name: "DNS_ROUND_ROBIN at most one endpoint", spec: "  hosts: [a.example.com]\n  resolution: DNS_ROUND_ROBIN\n  endpoints: [{address: a1.example.com}, {address: a2.example.com}]\n" + port443,
			errs: []string{"spec.endpoints: there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN"}},
		{name: "DNS_ROUND_ROBIN with an address, hosts and a TCP port", spec: "  hosts: [a.example.com, b.example.com]\n  resolution: DNS_ROUND_ROBIN\n  addresses: [192.0.2.1]\n  ports: [{number: 5432, name: pg, protocol: TCP}]\n",
			errs:  []string{"spec.hosts: multiple hosts provided with non-HTTP, non-TLS ports"},
			warns: []string{"spec.hosts: service entry can not have more than one host specified simultaneously with address and tcp port"}},
		{name: "unknown resolution", spec: "  hosts: [a.example.com]\n  resolution: MAGIC\n" + port443,
			errs: []string{"spec.resolution: unsupported resolution type MAGIC"}},
		{name: "CIDR only for NONE/STATIC", spec: "  hosts: [a.example.com]\n  resolution: DNS\n  addresses: [10.0.0.0/24]\n" + port443,
			errs: []string{"spec.addresses: CIDR addresses are allowed only for NONE/STATIC resolution types"}},
		{name: "CIDR with NONE accepted", spec: "  hosts: [a.example.com]\n  addresses: [10.0.0.0/24, 192.0.2.7]\n" + port443},
		{name: "bad address", spec: "  hosts: [a.example.com]\n  addresses: [10.0.0.300]\n" + port443,
			errs: []string{"spec.addresses[0]: 10.0.0.300 is not a valid IP"}},
		{name: "bad CIDR", spec: "  hosts: [a.example.com]\n  addresses: [10.0.0.0/33, 10.0.0.0/8/8]\n" + port443,
			errs: []string{"spec.addresses[0]: 10.0.0.0/33 is not a valid CIDR block", "spec.addresses[1]: 10.0.0.0/8/8 is not a valid IP"}},
		{name: "duplicate port name and number", spec: "  hosts: [a.example.com]\n  ports: [{number: 80, name: web, protocol: HTTP}, {number: 80, name: web, protocol: HTTP}]\n",
			errs: []string{`spec.ports[1].name: service entry port name "web" already defined`, "spec.ports[1].number: service entry port 80 already defined"}},
		{name: "bad port name", spec: "  hosts: [a.example.com]\n  ports: [{number: 80, name: Web_1, protocol: HTTP}]\n",
			errs: []string{"spec.ports[0].name: invalid port name: Web_1"}},
		{name: "unknown protocol", spec: "  hosts: [a.example.com]\n  ports: [{number: 80, name: web, protocol: SPDY}]\n",
			errs: []string{"spec.ports[0].protocol: unsupported protocol: SPDY"}},
		{name: "protocols are case-insensitive", spec: "  hosts: [a.example.com]\n  ports: [{number: 80, name: a, protocol: http}, {number: 81, name: b, protocol: grpc-web}, {number: 82, name: c, protocol: mongo}, {number: 83, name: d, protocol: HTTP_PROXY}]\n"},
		{name: "port out of range", spec: "  hosts: [a.example.com]\n  ports: [{number: 70000, name: web, protocol: HTTP, targetPort: 0}]\n",
			errs: []string{"spec.ports[0].number: port number 70000 must be in the range 1..65535"}},
		{name: "port findings in Istio's order", spec: "  hosts: [a.example.com]\n  ports: [{number: 0, name: Web_1, protocol: SPDY, targetPort: 70000}]\n",
			errs: []string{"spec.ports[0].targetPort: port number 70000 must be in the range 1..65535", "spec.ports[0].name: invalid port name: Web_1",
				"spec.ports[0].protocol: unsupported protocol: SPDY", "spec.ports[0].number: port number 0 must be in the range 1..65535"}},
		{name: "no ports warns", spec: "  hosts: [a.example.com]\n",
			warns: []string{"spec.ports: no ports: the entry declares no reachable destination"}},
		{name: "multiple hosts with TCP port", spec: "  hosts: [a.example.com, b.example.com]\n  resolution: DNS\n  ports: [{number: 5432, name: pg, protocol: TCP}]\n",
			errs: []string{"spec.hosts: multiple hosts provided with non-HTTP, non-TLS ports"}},
		{name: "multiple hosts with TLS ports", spec: "  hosts: [a.example.com, b.example.com]\n  resolution: DNS\n" + port443},
		{name: "workloadSelector and endpoints", spec: "  hosts: [a.example.com]\n  resolution: STATIC\n  workloadSelector: {labels: {app: x}}\n  endpoints: [{address: 10.0.0.1}]\n" + port443,
			errs: []string{"spec.workloadSelector: only one of WorkloadSelector or Endpoints is allowed in Service Entry"}},
		{name: "DYNAMIC_DNS wants wildcards", spec: "  hosts: [a.example.com]\n  resolution: DYNAMIC_DNS\n  ports: [{number: 443, name: tls, protocol: TLS}]\n",
			errs: []string{"spec.hosts[0]: host must be wildcarded for resolution mode DYNAMIC_DNS"}},
		{name: "DYNAMIC_DNS takes no addresses, endpoints or TCP", spec: "  hosts: ['*.example.com']\n  resolution: DYNAMIC_DNS\n  addresses: [192.0.2.1]\n  endpoints: [{address: 192.0.2.2}]\n  ports: [{number: 5432, name: pg, protocol: TCP}]\n",
			errs: []string{"spec.addresses: addresses cannot be set for resolution type DYNAMIC_DNS. HTTP route domains will only be generatedfrom the hosts field values",
				"spec.endpoints: endpoints cannot be set for resolution type DYNAMIC_DNS. Destination IP address determined from hostsfield values",
				"spec.ports[0].protocol: only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type DYNAMIC_DNS"}},
		{name: "DYNAMIC_DNS without hosts", spec: "  resolution: DYNAMIC_DNS\n  ports: [{number: 80, name: http, protocol: HTTP}]\n",
			errs: []string{"spec.hosts: service entry must have at least one host", "spec.hosts: at least one wildcard host must be provided for resolution type DYNAMIC_DNS"}},
		{name: "exportTo duplicates", spec: "  hosts: [a.example.com]\n  exportTo: ['.', ns]\n" + port443,
			errs: []string{"spec.exportTo[1]: duplicate entries in exportTo for entry ns"}},
		{name: "exportTo namespace then dot", spec: "  hosts: [a.example.com]\n  exportTo: [ns, '.']\n" + port443,
			errs: []string{"spec.exportTo[1]: duplicate entries in exportTo: . and current namespace ns"}},
		{name: "exportTo public and more", spec: "  hosts: [a.example.com]\n  exportTo: ['*', other]\n" + port443,
			errs: []string{"spec.exportTo: cannot have both public (*) and non-public exportTo values for a resource"}},
		{name: "exportTo none and more", spec: "  hosts: [a.example.com]\n  exportTo: ['~', '~', other]\n" + port443,
			errs: []string{"spec.exportTo[1]: duplicate entries in exportTo for entry ~", "spec.exportTo: cannot export service entry to no one (~) and someone"}},
		{name: "exportTo none alone", spec: "  hosts: [a.example.com]\n  exportTo: ['~']\n" + port443},
		{name: "exportTo bad namespace", spec: "  hosts: [a.example.com]\n  exportTo: [ns1_]\n" + port443,
			errs: []string{"spec.exportTo[0]: only .,*, or a valid DNS 1123 label is allowed as exportTo entry"}},
		{name: "unknown field", spec: "  hosts: [a.example.com]\n  resolutoin: DNS\n" + port443,
			errs: []string{`spec.resolutoin: unknown key "resolutoin" (known keys: addresses, endpoints, exportTo, hosts, location, ports, resolution, subjectAltNames, workloadSelector)`}},
		{name: "wrong type", spec: "  hosts: a.example.com\n" + port443,
			errs: []string{`spec.hosts: expected a list, got "a.example.com"`}},
		{name: "bad location", spec: "  hosts: [a.example.com]\n  location: MESH_OUTSIDE\n" + port443,
			errs: []string{"spec.location: unsupported location MESH_OUTSIDE (want MESH_EXTERNAL or MESH_INTERNAL)"}},
	}
}

func TestValidateServiceEntry(t *testing.T) {
	for _, tc := range serviceEntryCases() {
		t.Run(tc.name, func(t *testing.T) {
			errs, warns := findings(t, seDoc(tc.spec))
			checkFindings(t, errs, warns, tc.errs, tc.warns)
		})
	}
}

// checkFindings wants exactly the errors and exactly the warnings listed:
// an unexpected warning fails a case as an unexpected error does.
func checkFindings(t *testing.T, errs, warns, wantErrs, wantWarns []string) {
	t.Helper()
	if strings.Join(errs, "\n") != strings.Join(wantErrs, "\n") {
		t.Errorf("errors:\n got %q\nwant %q", errs, wantErrs)
	}
	if strings.Join(warns, "\n") != strings.Join(wantWarns, "\n") {
		t.Errorf("warnings:\n got %q\nwant %q", warns, wantWarns)
	}
}

// drCase is a DestinationRule spec, checked beside a ServiceEntry for
// api.example.com port 80, and every finding it must give.
type drCase struct {
	name  string
	spec  string
	errs  []string
	warns []string
}

func destinationRuleCases() []drCase {
	return []drCase{
		{name: "SIMPLE origination", spec: "  host: api.example.com\n  trafficPolicy: {portLevelSettings: [{port: {number: 80}, tls: {mode: SIMPLE}}]}\n"},
		{name: "MUTUAL needs cert and key", spec: "  host: api.example.com\n  trafficPolicy: {tls: {mode: MUTUAL}}\n",
			errs: []string{"spec.trafficPolicy.tls.clientCertificate: client certificate required for mutual tls", "spec.trafficPolicy.tls.privateKey: private key required for mutual tls"}},
		{name: "credentialName excludes files", spec: "  host: api.example.com\n  trafficPolicy: {tls: {mode: SIMPLE, credentialName: x, caCertificates: /ca.pem}}\n",
			errs: []string{"spec.trafficPolicy.tls.credentialName: cannot specify client certificates or CA certificate or CA CRL If credentialName is set"}},
		{name: "insecureSkipVerify conflicts (SIMPLE)", spec: "  host: api.example.com\n  trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true, subjectAltNames: [x]}}\n",
			errs: []string{"spec.trafficPolicy.tls.insecureSkipVerify: cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true"}},
		{name: "insecureSkipVerify conflicts (MUTUAL)", spec: "  host: api.example.com\n  trafficPolicy: {tls: {mode: MUTUAL, insecureSkipVerify: true, caCertificates: /ca.pem, clientCertificate: /c, privateKey: /k}}\n",
			errs: []string{"spec.trafficPolicy.tls.insecureSkipVerify: cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true"}},
		{name: "empty traffic policy", spec: "  host: api.example.com\n  trafficPolicy: {}\n",
			errs: []string{"spec.trafficPolicy: traffic policy must have at least one field"}},
		{name: "tunnel and PROXY protocol, reported alone", spec: "  host: api.example.com\n  trafficPolicy: {tunnel: {protocol: CONNECT}, proxyProtocol: {version: V1}, tls: {mode: STRICT}}\n",
			errs: []string{"spec.trafficPolicy: tunnel and proxyProtocol must not be set together"},
			warns: []string{
				"spec.trafficPolicy.tunnel: not applied by sluice: tunnel has no effect on calls through the gateway",
				"spec.trafficPolicy.proxyProtocol: not applied by sluice: proxyProtocol has no effect on calls through the gateway"}},
		{name: "port policy without port", spec: "  host: api.example.com\n  trafficPolicy: {portLevelSettings: [{tls: {mode: SIMPLE}}]}\n",
			errs: []string{"spec.trafficPolicy.portLevelSettings[0].port: portTrafficPolicy must have valid port"}},
		{name: "empty port policy", spec: "  host: api.example.com\n  trafficPolicy: {portLevelSettings: [{port: {number: 80}}]}\n",
			errs: []string{"spec.trafficPolicy.portLevelSettings[0]: port traffic policy must have at least one field"}},
		{name: "two policies for one port", spec: "  host: api.example.com\n  trafficPolicy: {portLevelSettings: [{port: {number: 80}, tls: {mode: SIMPLE}}, {port: {number: 80}, tls: {mode: DISABLE}}]}\n",
			warns: []string{"spec.trafficPolicy.portLevelSettings[1].port.number: port 80 has more than one port-level policy; the first applies"}},
		{name: "unknown tls mode", spec: "  host: api.example.com\n  trafficPolicy: {tls: {mode: STRICT}}\n",
			errs: []string{"spec.trafficPolicy.tls.mode: unsupported tls mode STRICT (want DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL)"}},
		{name: "ISTIO_MUTUAL warns", spec: "  host: api.example.com\n  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}\n",
			warns: []string{"spec.trafficPolicy.tls.mode: ISTIO_MUTUAL is for hops inside the mesh; sluice does not originate Istio mTLS and sends plain traffic on this route"}},
		{name: "host * is every host, as in Istio", spec: "  host: '*'\n  trafficPolicy: {tls: {mode: SIMPLE}}\n"},
		{name: "bad host", spec: "  host: 'api.*.example.com'\n",
			errs: []string{`spec.host: domain name "*.example.com" invalid (label "*" invalid)`}},
		{name: "missing CA file", spec: "  host: api.example.com\n  trafficPolicy: {tls: {mode: SIMPLE, caCertificates: /nonexistent/ca.pem}}\n",
			errs: []string{"spec.trafficPolicy.tls.caCertificates: open /nonexistent/ca.pem: no such file or directory"}},
		{name: "missing credential", spec: "  host: api.example.com\n  trafficPolicy: {tls: {mode: SIMPLE, credentialName: partner}}\n",
			errs: []string{"spec.trafficPolicy.tls.credentialName: credential \"partner\" not found: mount the Secret at CREDDIR/partner"}},
		{name: "bad subset name", spec: "  host: api.example.com\n  subsets: [{name: V_1}]\n",
			errs: []string{"spec.subsets[0].name: subset name is invalid: V_1"}},
		{name: "subset findings in Istio's order", spec: "  host: api.example.com\n  subsets: [{name: ''}, {name: ''}]\n",
			errs: []string{"spec.subsets[0].name: subset name cannot be empty", "spec.subsets[1].name: duplicate subset names: ", "spec.subsets[1].name: subset name cannot be empty"}},
		{name: "exportTo none is for ServiceEntries", spec: "  host: api.example.com\n  exportTo: ['~']\n",
			errs: []string{"spec.exportTo[0]: exportTo ~ (none) is not allowed for Istio configuration objects"}},
		{name: "workload selector: own namespace only", spec: "  host: api.example.com\n  workloadSelector: {matchLabels: {app: x}}\n  exportTo: ['*']\n",
			errs:  []string{"spec.exportTo: destination rule with workload selector cannot have exportTo beyond current namespace"},
			warns: []string{drSelectorWarning}},
		{name: "workload selector: one namespace", spec: "  host: api.example.com\n  workloadSelector: {matchLabels: {app: x}}\n  exportTo: ['.', other]\n",
			errs:  []string{"spec.exportTo: destination rule with workload selector cannot have multiple entries in exportTo"},
			warns: []string{drSelectorWarning}},
		{name: "workload selector: dot alone", spec: "  host: api.example.com\n  workloadSelector: {matchLabels: {app: x}}\n  exportTo: ['.']\n",
			warns: []string{drSelectorWarning}},
	}
}

// drSelectorWarning is the warning every DestinationRule with a
// workloadSelector draws.
const drSelectorWarning = "spec.workloadSelector: not applied by sluice: workloadSelector selects sidecars and gateways by label; sluice applies this rule to every call through the gateway"

func TestValidateDestinationRule(t *testing.T) {
	se := seDoc("  hosts: [api.example.com]\n  resolution: DNS\n  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 443}]\n")
	for _, tc := range destinationRuleCases() {
		t.Run(tc.name, func(t *testing.T) {
			errs, warns := findings(t, se, drDoc(tc.spec))
			for i := range errs {
				if j := strings.Index(errs[i], "mount the Secret at "); j >= 0 {
					errs[i] = errs[i][:j] + "mount the Secret at CREDDIR/partner"
				}
			}
			checkFindings(t, errs, warns, tc.errs, tc.warns)
		})
	}
}

// Findings name file, line, document and resource.
func TestDiagnosticPosition(t *testing.T) {
	data := seDoc("  hosts: [a.example.com]\n"+port443) + "---\n" + seDoc("  hosts: ['*']\n"+port443)
	data = strings.Replace(data, "name: se,", "name: se2,", 2)
	data = strings.Replace(data, "name: se2,", "name: se,", 1)
	res, _, _ := Parse("dir/f.yaml", []byte(data))
	_, ds := Build(res, BuildOptions{})
	if len(ds.Errors()) != 1 {
		t.Fatalf("want 1 error, got %v", ds)
	}
	want := "dir/f.yaml:12:11: error: doc 1: ServiceEntry ns/se2: spec.hosts[0]: invalid host *"
	if got := ds.Errors()[0].String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestParseSkipsOtherKindsAndReadsLists(t *testing.T) {
	data := `apiVersion: v1
kind: ConfigMap
metadata: {name: x}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec: {selector: {app: x}}
---
apiVersion: v1
kind: List
items:
- apiVersion: networking.istio.io/v1alpha3
  kind: ServiceEntry
  metadata: {name: one, namespace: a, uid: 123, resourceVersion: "9", managedFields: [{}]}
  spec: {hosts: [one.example.com], ports: [{number: 443, name: https, protocol: HTTPS}]}
  status: {addresses: [{value: 240.240.0.1}]}
---
`
	res, ds, skipped := Parse("f.yaml", []byte(data))
	if len(ds) != 0 || len(res) != 1 || skipped != 2 || res[0].Metadata.Name != "one" {
		t.Fatalf("res=%d skipped=%d diags=%v", len(res), skipped, ds)
	}
}

func TestParseSyntaxError(t *testing.T) {
	_, ds, _ := Parse("f.yaml", []byte("apiVersion: v1\nkind: [unclosed\n"))
	if len(ds) != 1 || ds[0].Line == 0 || !strings.Contains(ds[0].Msg, "YAML syntax error") {
		t.Fatalf("got %v", ds)
	}
}

func TestDuplicateResource(t *testing.T) {
	errs, _ := findings(t, seDoc("  hosts: [a.example.com]\n"+port443), seDoc("  hosts: [b.example.com]\n"+port443))
	if len(errs) != 1 || !strings.Contains(errs[0], "duplicate ServiceEntry ns/se (first defined in test.yaml doc 0)") {
		t.Fatalf("got %q", errs)
	}
}

func TestUnsupportedAPIVersion(t *testing.T) {
	_, ds, _ := Parse("f.yaml", []byte(strings.Replace(seDoc("  hosts: [a.b]\n"+port443), "/v1\n", "/v2\n", 1)))
	if len(ds) != 1 || !strings.Contains(ds[0].Msg, `unsupported apiVersion "networking.istio.io/v2"`) {
		t.Fatalf("got %v", ds)
	}
}
