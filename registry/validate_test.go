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

func TestValidateServiceEntry(t *testing.T) {
	tests := []struct {
		name  string
		spec  string
		errs  []string // exact "field: message", all of them
		warns []string
	}{
		{name: "minimal DNS entry", spec: "  hosts: [api.example.com]\n  resolution: DNS\n" + port443},
		{name: "no hosts", spec: "  resolution: DNS\n" + port443,
			errs: []string{"spec.hosts: service entry must have at least one host"}},
		{name: "bare star", spec: "  hosts: ['*']\n" + port443,
			errs: []string{"spec.hosts[0]: invalid host *"}},
		{name: "wildcard not left-most", spec: "  hosts: ['api.*.example.com']\n" + port443,
			// Istio's message names the rest of the name after the first label.
			errs: []string{`spec.hosts[0]: domain name "*.example.com" invalid (label "*" invalid)`}},
		{name: "bad label", spec: "  hosts: ['-bad.example.com']\n" + port443,
			errs: []string{`spec.hosts[0]: domain name "-bad.example.com" invalid (label "-bad" invalid)`}},
		{name: "numeric TLD (an IP as host)", spec: "  hosts: ['1.2.3.4']\n" + port443,
			errs: []string{`spec.hosts[0]: domain name "2.3.4" invalid (top level domain "4" cannot be all-numeric)`}},
		{name: "trailing dot and upper case accepted", spec: "  hosts: [API.Example.COM.]\n  resolution: DNS\n" + port443},
		{name: "short host accepted", spec: "  hosts: [foo]\n" + port443},
		{name: "partial wildcard warns", spec: "  hosts: ['*example.com']\n" + port443,
			warns: []string{`spec.hosts[0]: partial wildcard "*example.com" not allowed`}},
		{name: "wildcard with DNS needs endpoints", spec: "  hosts: ['*.example.com']\n  resolution: DNS\n" + port443,
			errs: []string{"spec.hosts[0]: hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode DNS"}},
		{name: "wildcard with DNS and endpoints", spec: "  hosts: ['*.google.com']\n  resolution: DNS\n  endpoints: [{address: lon.google.com}, {address: in.google.com}]\n" + port443},
		{name: "NONE takes no endpoints", spec: "  hosts: [a.example.com]\n  resolution: NONE\n  endpoints: [{address: 1.1.1.1}]\n" + port443,
			errs: []string{"spec.endpoints: no endpoints should be provided for resolution type none"}},
		{name: "STATIC endpoint must be an IP", spec: "  hosts: [a.example.com]\n  resolution: STATIC\n  endpoints: [{address: db.example.com}]\n" + port443,
			errs: []string{`spec.endpoints[0].address: endpoint address "db.example.com" is not a valid IP address`}},
		{name: "STATIC without endpoints accepted", spec: "  hosts: [a.example.com]\n  resolution: STATIC\n" + port443},
		{name: "STATIC unix endpoint needs one port", spec: "  hosts: [a.example.com]\n  resolution: STATIC\n  endpoints: [{address: 'unix:///var/run/x.sock'}]\n  ports: [{number: 80, name: http, protocol: HTTP}, {number: 81, name: http2, protocol: HTTP}]\n",
			errs: []string{"spec.ports: exactly 1 service port required for unix endpoints"}},
		{name: "endpoint port must be declared", spec: "  hosts: [a.example.com]\n  resolution: STATIC\n  endpoints: [{address: 10.0.0.1, ports: {grpc: 9000}}]\n" + port443,
			errs: []string{"spec.endpoints[0].ports.grpc: endpoint port 9000 is not defined by the service entry"}},
		{name: "DNS endpoint must be FQDN or IP", spec: "  hosts: [a.example.com]\n  resolution: DNS\n  endpoints: [{address: 'bad_name!'}]\n" + port443,
			errs: []string{`spec.endpoints[0].address: endpoint address "bad_name!" is not a valid FQDN or an IP address`}},
		{name: "DNS_ROUND_ROBIN at most one endpoint", spec: "  hosts: [a.example.com]\n  resolution: DNS_ROUND_ROBIN\n  endpoints: [{address: a1.example.com}, {address: a2.example.com}]\n" + port443,
			errs: []string{"spec.endpoints: there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN"}},
		{name: "unknown resolution", spec: "  hosts: [a.example.com]\n  resolution: MAGIC\n" + port443,
			errs: []string{"spec.resolution: unsupported resolution type MAGIC"}},
		{name: "CIDR only for NONE/STATIC", spec: "  hosts: [a.example.com]\n  resolution: DNS\n  addresses: [10.0.0.0/24]\n" + port443,
			errs: []string{"spec.addresses: CIDR addresses are allowed only for NONE/STATIC resolution types"}},
		{name: "CIDR with NONE accepted", spec: "  hosts: [a.example.com]\n  addresses: [10.0.0.0/24, 192.0.2.7]\n" + port443},
		{name: "bad address", spec: "  hosts: [a.example.com]\n  addresses: [10.0.0.300]\n" + port443,
			errs: []string{`spec.addresses[0]: "10.0.0.300" is not a valid IP`}},
		{name: "duplicate port name and number", spec: "  hosts: [a.example.com]\n  ports: [{number: 80, name: web, protocol: HTTP}, {number: 80, name: web, protocol: HTTP}]\n",
			errs: []string{`spec.ports[1].name: service entry port name "web" already defined`, "spec.ports[1].number: service entry port 80 already defined"}},
		{name: "bad port name", spec: "  hosts: [a.example.com]\n  ports: [{number: 80, name: Web_1, protocol: HTTP}]\n",
			errs: []string{"spec.ports[0].name: invalid port name: Web_1"}},
		{name: "unknown protocol", spec: "  hosts: [a.example.com]\n  ports: [{number: 80, name: web, protocol: SPDY}]\n",
			errs: []string{"spec.ports[0].protocol: unsupported protocol: SPDY"}},
		{name: "protocols are case-insensitive", spec: "  hosts: [a.example.com]\n  ports: [{number: 80, name: a, protocol: http}, {number: 81, name: b, protocol: grpc-web}, {number: 82, name: c, protocol: mongo}, {number: 83, name: d, protocol: HTTP_PROXY}]\n"},
		{name: "port out of range", spec: "  hosts: [a.example.com]\n  ports: [{number: 70000, name: web, protocol: HTTP, targetPort: 0}]\n",
			errs: []string{"spec.ports[0].number: port number 70000 must be in the range 1..65535"}},
		{name: "multiple hosts with TCP port", spec: "  hosts: [a.example.com, b.example.com]\n  resolution: DNS\n  ports: [{number: 5432, name: pg, protocol: TCP}]\n",
			errs: []string{"spec.hosts: multiple hosts provided with non-HTTP, non-TLS ports"}},
		{name: "multiple hosts with TLS ports", spec: "  hosts: [a.example.com, b.example.com]\n  resolution: DNS\n" + port443},
		{name: "workloadSelector and endpoints", spec: "  hosts: [a.example.com]\n  resolution: STATIC\n  workloadSelector: {labels: {app: x}}\n  endpoints: [{address: 10.0.0.1}]\n" + port443,
			errs: []string{"spec.workloadSelector: only one of WorkloadSelector or Endpoints is allowed in Service Entry"}},
		{name: "DYNAMIC_DNS wants wildcards", spec: "  hosts: [a.example.com]\n  resolution: DYNAMIC_DNS\n  ports: [{number: 443, name: tls, protocol: TLS}]\n",
			errs: []string{`spec.hosts[0]: DYNAMIC_DNS resolution mode requires wildcard hosts, got "a.example.com"`}},
		{name: "exportTo duplicates", spec: "  hosts: [a.example.com]\n  exportTo: ['.', ns]\n" + port443,
			errs: []string{"spec.exportTo[1]: duplicate entries in exportTo: ns"}},
		{name: "unknown field", spec: "  hosts: [a.example.com]\n  resolutoin: DNS\n" + port443,
			errs: []string{`spec.resolutoin: unknown key "resolutoin" (known keys: addresses, endpoints, exportTo, hosts, location, ports, resolution, subjectAltNames, workloadSelector)`}},
		{name: "wrong type", spec: "  hosts: a.example.com\n" + port443,
			errs: []string{`spec.hosts: expected a list, got "a.example.com"`}},
		{name: "bad location", spec: "  hosts: [a.example.com]\n  location: MESH_OUTSIDE\n" + port443,
			errs: []string{"spec.location: unsupported location MESH_OUTSIDE (want MESH_EXTERNAL or MESH_INTERNAL)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs, warns := findings(t, seDoc(tc.spec))
			if strings.Join(errs, "\n") != strings.Join(tc.errs, "\n") {
				t.Errorf("errors:\n got %q\nwant %q", errs, tc.errs)
			}
			if tc.warns != nil && strings.Join(warns, "\n") != strings.Join(tc.warns, "\n") {
				t.Errorf("warnings:\n got %q\nwant %q", warns, tc.warns)
			}
		})
	}
}

func TestValidateDestinationRule(t *testing.T) {
	se := seDoc("  hosts: [api.example.com]\n  resolution: DNS\n  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 443}]\n")
	tests := []struct {
		name string
		spec string
		errs []string
	}{
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
		{name: "port policy without port", spec: "  host: api.example.com\n  trafficPolicy: {portLevelSettings: [{tls: {mode: SIMPLE}}]}\n",
			errs: []string{"spec.trafficPolicy.portLevelSettings[0].port: portTrafficPolicy must have valid port"}},
		{name: "empty port policy", spec: "  host: api.example.com\n  trafficPolicy: {portLevelSettings: [{port: {number: 80}}]}\n",
			errs: []string{"spec.trafficPolicy.portLevelSettings[0]: port traffic policy must have at least one field"}},
		{name: "unknown tls mode", spec: "  host: api.example.com\n  trafficPolicy: {tls: {mode: STRICT}}\n",
			errs: []string{"spec.trafficPolicy.tls.mode: unsupported tls mode STRICT (want DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL)"}},
		{name: "bad host", spec: "  host: '*'\n", errs: []string{"spec.host: invalid destination host *"}},
		{name: "missing CA file", spec: "  host: api.example.com\n  trafficPolicy: {tls: {mode: SIMPLE, caCertificates: /nonexistent/ca.pem}}\n",
			errs: []string{"spec.trafficPolicy.tls.caCertificates: open /nonexistent/ca.pem: no such file or directory"}},
		{name: "missing credential", spec: "  host: api.example.com\n  trafficPolicy: {tls: {mode: SIMPLE, credentialName: partner}}\n",
			errs: []string{"spec.trafficPolicy.tls.credentialName: credential \"partner\" not found: mount the Secret at CREDDIR/partner"}},
		{name: "bad subset name", spec: "  host: api.example.com\n  subsets: [{name: V_1}]\n",
			errs: []string{"spec.subsets[0].name: subset name is invalid: V_1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs, _ := findings(t, se, drDoc(tc.spec))
			for i := range errs {
				if j := strings.Index(errs[i], "mount the Secret at "); j >= 0 {
					errs[i] = errs[i][:j] + "mount the Secret at CREDDIR/partner"
				}
			}
			if strings.Join(errs, "\n") != strings.Join(tc.errs, "\n") {
				t.Errorf("errors:\n got %q\nwant %q", errs, tc.errs)
			}
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
kind: VirtualService
metadata: {name: vs}
spec: {hosts: [a]}
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
