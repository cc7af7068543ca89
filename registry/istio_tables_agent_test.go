package registry

import (
	"strings"
	"testing"
)

// The tables of istio/istio pkg/config/validation/agent/validation_test.go
// (86c9f01) for the field rules the three kinds share:
// TestValidateWildcardDomain (11 cases), on a DestinationRule's host;
// TestValidateWildcardDomainForVirtualServiceBoundToGateway (16), on the
// hosts (and SNI hosts) of a VirtualService bound to a gateway;
// TestValidateFQDN (6), on a DNS endpoint's address; TestValidatePort
// (6), on a ServiceEntry port; TestValidationIPAddress (4) and
// TestValidationIPSubnet (4), on a ServiceEntry's addresses; and
// TestValidateDuration (5), on an http rule's timeout. Each case is YAML
// read by Parse and Build, with the findings Istio gives there.
//
// One case reads differently in its field: ValidateVirtualService
// accepts a host that is an IP address although
// ValidateWildcardDomainForVirtualServiceBoundToGateway refuses it
// ("IP address" below lists no error, as Istio's webhook gives none).
func istioAgentCases() []docCase {
	host := func(h string) string { return drDoc("  host: '" + h + "'\n") }
	gwHost := func(h string) string {
		return vsDoc("  hosts: ['" + h + "']\n  gateways: [ns1/gw]\n  http: [{" + toFooBaz + "}]\n")
	}
	sniHost := func(h string) string {
		return vsDoc("  hosts: ['" + h + "']\n  gateways: [ns1/gw]\n  tls: [{match: [{sniHosts: ['" + h + "']}], route: [{destination: {host: foo.baz}}]}]\n")
	}
	dnsEP := func(a string) string {
		return seDoc("  hosts: [a.example.com]\n  resolution: DNS\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  endpoints: [{address: '" + a + "'}]\n")
	}
	port := func(n string) string {
		return seDoc("  hosts: [a.example.com]\n  ports: [{number: " + n + ", name: http, protocol: HTTP}]\n")
	}
	addr := func(a string) string {
		return seDoc("  hosts: [a.example.com]\n  addresses: ['" + a + "']\n  ports: [{number: 80, name: http, protocol: HTTP}]\n")
	}
	timeout := func(d string) string { return vsDoc(vsRule("{" + toFooBaz + ", timeout: " + d + "}")) }
	long := strings.Repeat("x", 256)
	const sniFormat = ". should follow outbound_.<PORT>_._.<HOSTNAME> format"
	return []docCase{
		// TestValidateWildcardDomain
		{name: "wildcard domain empty", doc: host(""), errs: []string{"spec.host: empty domain name not allowed"}},
		{name: "wildcard domain too long", doc: host(long), errs: []string{`spec.host: domain name "` + long + `" too long (max 255)`}},
		{name: "wildcard domain happy", doc: host(strings.Repeat("x", 63))},
		{name: "wildcard domain wildcard", doc: host("*")},
		{name: "wildcard domain wildcard multi-segment", doc: host("*.bar.com")},
		{name: "wildcard domain wildcard single segment", doc: host("*foo")},
		{name: "wildcard domain wildcard prefix", doc: host("*foo.bar.com")},
		{name: "wildcard domain wildcard prefix dash", doc: host("*-foo.bar.com")},
		{name: "wildcard domain bad wildcard", doc: host("foo.*.com"), errs: []string{`spec.host: domain name "*.com" invalid (label "*" invalid)`}},
		{name: "wildcard domain bad wildcard 2", doc: host("foo*.bar.com"), errs: []string{`spec.host: domain name "foo*.bar.com" invalid (label "foo*" invalid)`}},
		{name: "wildcard domain IP address", doc: host("1.1.1.1"), errs: []string{`spec.host: domain name "1.1.1" invalid (top level domain "1" cannot be all-numeric)`}},

		// TestValidateWildcardDomainForVirtualServiceBoundToGateway
		{name: "gateway empty", doc: gwHost(""), errs: []string{"spec.hosts[0]: empty domain name not allowed"}},
		{name: "gateway too long", doc: gwHost(long), errs: []string{`spec.hosts[0]: domain name "` + long + `" too long (max 255)`}},
		{name: "gateway happy", doc: gwHost(strings.Repeat("x", 63))},
		{name: "gateway wildcard", doc: gwHost("*")},
		{name: "gateway wildcard multi-segment", doc: gwHost("*.bar.com")},
		{name: "gateway wildcard single segment", doc: gwHost("*foo")},
		{name: "gateway wildcard prefix", doc: gwHost("*foo.bar.com")},
		{name: "gateway wildcard prefix dash", doc: gwHost("*-foo.bar.com")},
		{name: "gateway bad wildcard", doc: gwHost("foo.*.com"), errs: []string{`spec.hosts[0]: domain name "*.com" invalid (label "*" invalid)`}},
		{name: "gateway bad wildcard 2", doc: gwHost("foo*.bar.com"), errs: []string{`spec.hosts[0]: domain name "foo*.bar.com" invalid (label "foo*" invalid)`}},
		{name: "gateway IP address (a VirtualService may name one)", doc: gwHost("1.1.1.1")},
		{name: "gateway SNI domain", doc: sniHost("outbound_.80_._.e2e.foobar.mesh")},
		{name: "gateway SNI happy", doc: sniHost("outbound.com")},
		{name: "gateway invalid SNI domain neverbound", doc: sniHost("neverbound_.80_._.e2e.foobar.mesh"),
			errs: []string{`spec.hosts[0]: domain name "neverbound_.80_._.e2e.foobar.mesh" invalid (label "neverbound_" invalid)`,
				`spec.tls[0].match[0].sniHosts[0]: domain name "neverbound_.80_._.e2e.foobar.mesh" invalid (label "neverbound_" invalid)`}},
		{name: "gateway invalid SNI domain port", doc: sniHost("outbound_.thisIsNotAPort_._.e2e.foobar.mesh"),
			errs: []string{`spec.hosts[0]: domain name "outbound_.thisIsNotAPort_._.e2e.foobar.mesh" invalid (label "thisIsNotAPort" invalid)` + sniFormat,
				`spec.tls[0].match[0].sniHosts[0]: domain name "outbound_.thisIsNotAPort_._.e2e.foobar.mesh" invalid (label "thisIsNotAPort" invalid)` + sniFormat}},
		{name: "gateway invalid SNI domain no host", doc: sniHost("outbound_.80_._"),
			errs: []string{`spec.hosts[0]: domain name "outbound_.80_._" invalid (label "" invalid)` + sniFormat,
				`spec.tls[0].match[0].sniHosts[0]: domain name "outbound_.80_._" invalid (label "" invalid)` + sniFormat}},

		// TestValidateFQDN
		{name: "long FQDN", doc: dnsEP(long), errs: []string{`spec.endpoints[0].address: endpoint address "` + long + `" is not a valid FQDN or an IP address`}},
		{name: "empty FQDN", doc: dnsEP(""), errs: []string{`spec.endpoints[0].address: endpoint address "" is not a valid FQDN or an IP address`}},
		{name: "standard FQDN", doc: dnsEP("istio.io")},
		{name: "unambiguous FQDN", doc: dnsEP("istio.io.")},
		{name: "standard kubernetes FQDN", doc: dnsEP("istio-pilot.istio-system.svc.cluster.local")},
		{name: "unambiguous kubernetes FQDN", doc: dnsEP("istio-pilot.istio-system.svc.cluster.local.")},

		// TestValidatePort
		{name: "port 0", doc: port("0"), errs: []string{"spec.ports[0].number: port number 0 must be in the range 1..65535"}},
		{name: "port 65536", doc: port("65536"), errs: []string{"spec.ports[0].number: port number 65536 must be in the range 1..65535"}},
		{name: "port -1", doc: port("-1"), errs: []string{"spec.ports[0].number: port number -1 must be in the range 1..65535"}},
		{name: "port 100", doc: port("100")},
		{name: "port 1000", doc: port("1000")},
		{name: "port 65535", doc: port("65535")},

		// TestValidationIPAddress, TestValidationIPSubnet
		{name: "valid ipv4 address", doc: addr("1.1.1.1")},
		{name: "invalid ipv4 address", doc: addr("1.1.A.1"), errs: []string{"spec.addresses[0]: 1.1.A.1 is not a valid IP"}},
		{name: "valid ipv6 address", doc: addr("2001:1::1")},
		{name: "invalid ipv6 address", doc: addr("2001:1:G::1"), errs: []string{"spec.addresses[0]: 2001:1:G::1 is not a valid IP"}},
		{name: "valid ipv4 subnet", doc: addr("1.1.1.1/24")},
		{name: "invalid ipv4 subnet", doc: addr("1.1.1.1/48"), errs: []string{"spec.addresses[0]: 1.1.1.1/48 is not a valid CIDR block"}},
		{name: "valid ipv6 subnet", doc: addr("2001:1::1/64")},
		{name: "invalid ipv6 subnet", doc: addr("2001:1::1/132"), errs: []string{"spec.addresses[0]: 2001:1::1/132 is not a valid CIDR block"}},

		// TestValidateDuration ({Seconds, Nanos} written as Go durations)
		{name: "duration 1s", doc: timeout("1s")},
		{name: "duration 1s -1ns", doc: timeout("999999999ns"), errs: []string{"spec.http[0].timeout: only durations to ms precision are supported"}},
		{name: "duration -11s -1ns", doc: timeout("-11.000000001s"), errs: []string{"spec.http[0].timeout: duration must be greater than 1ms"}},
		{name: "duration 1ns", doc: timeout("1ns"), errs: []string{"spec.http[0].timeout: duration must be greater than 1ms"}},
		{name: "duration 1s 1ns", doc: timeout("1.000000001s"), errs: []string{"spec.http[0].timeout: only durations to ms precision are supported"}},
	}
}

// TestIstioAgentTables runs the tables through Parse and Build.
func TestIstioAgentTables(t *testing.T) {
	for _, tc := range istioAgentCases() {
		t.Run(tc.name, func(t *testing.T) {
			errs, warns := findings(t, tc.doc)
			checkFindings(t, errs, appliedWarnings(warns), tc.errs, tc.warns)
		})
	}
}
