package registry

import (
	"fmt"
	"net/netip"
	"strings"
)

// The tls and tcp routes of a VirtualService, as Istio's validateTLSRoute,
// validateTLSMatch, validateSniHost, validateTCPRoute and validateTCPMatch
// check them (pkg/config/validation/validation.go at 86c9f01), and the
// host rule for a VirtualService bound to a gateway
// (agent.ValidateWildcardDomainForVirtualServiceBoundToGateway), with
// Istio's messages.

// hostSubsetOf is Istio's host.Name.SubsetOf: a is covered by b.
func hostSubsetOf(a, b string) bool {
	switch {
	case strings.HasPrefix(a, "*") && strings.HasPrefix(b, "*"):
		return len(a) >= len(b) && strings.HasSuffix(a[1:], b[1:])
	case strings.HasPrefix(a, "*"):
		return false
	case strings.HasPrefix(b, "*"):
		return strings.HasSuffix(a, b[1:])
	}
	return a == b
}

// tlsRoute is Istio's validateTLSRoute and validateTLSMatch.
func (c *checker) tlsRoute(f string, t *TLSRoute, vs *VirtualServiceSpec) {
	if len(t.Match) == 0 {
		c.errf(f+".match", "TLS route must have at least one match condition")
	}
	for j, m := range t.Match {
		mf := fmt.Sprintf("%s.match[%d]", f, j)
		if len(m.SNIHosts) == 0 {
			c.errf(mf+".sniHosts", "TLS match must have at least one SNI host")
		}
		for k, h := range m.SNIHosts {
			c.sniHost(fmt.Sprintf("%s.sniHosts[%d]", mf, k), h, vs)
		}
		c.l4Match(mf, m.DestinationSubnets, m.Port, m.SourceLabels, m.Gateways)
	}
	if len(t.Route) == 0 {
		c.errf(f+".route", "TLS route is required")
	}
	c.routeDestinations(f+".route", t.Route)
}

// tcpRoute is Istio's validateTCPRoute and validateTCPMatch.
func (c *checker) tcpRoute(f string, t *TCPRoute) {
	for j, m := range t.Match {
		c.l4Match(fmt.Sprintf("%s.match[%d]", f, j), m.DestinationSubnets, m.Port, m.SourceLabels, m.Gateways)
	}
	if len(t.Route) == 0 {
		c.errf(f+".route", "TCP route is required")
	}
	c.routeDestinations(f+".route", t.Route)
}

// l4Match is what validateTLSMatch and validateTCPMatch share:
// destination subnets, port, source labels and gateways.
func (c *checker) l4Match(f string, subnets []string, port int64, labels map[string]string, gateways []string) {
	for i, s := range subnets {
		sf := fmt.Sprintf("%s.destinationSubnets[%d]", f, i)
		if strings.Count(s, "/") == 1 {
			if _, err := netip.ParsePrefix(s); err != nil {
				c.errf(sf, "%v is not a valid CIDR block", s)
			}
		} else if err := validateIPAddress(s); err != nil {
			c.errf(sf, "%v", err)
		}
	}
	c.uint32Range(f+".port", port)
	if port != 0 && !validPort(int(port)) {
		c.errf(f+".port", "port number %d must be in the range 1..65535", port)
	}
	c.labels(f+".sourceLabels", labels)
	c.gatewayNames(f+".gateways", gateways)
}

// sniHost is Istio's validateSniHost: a valid (wildcard) name, or an IP
// (a warning), covered by one of the VirtualService's hosts.
func (c *checker) sniHost(f, h string, vs *VirtualServiceSpec) {
	var err error
	if !contains(vs.Gateways, "mesh") {
		err = validateGatewayBoundDomain(true, h)
	} else {
		err = validateWildcardDomain(h)
	}
	if err != nil {
		if validateIPAddress(h) == nil {
			c.warnf(f, "using an IP address (%q) goes against SNI spec and most clients do not support this", h)
			return
		}
		c.errf(f, "%v", err)
		return
	}
	for _, vh := range vs.Hosts {
		if hostSubsetOf(h, vh) {
			return
		}
	}
	c.errf(f, "SNI host %q is not a compatible subset of any of the virtual service hosts: [%s]", h, strings.Join(vs.Hosts, ", "))
}

// isSNIHost is Istio's isSniHost: a tls route matches on SNI hosts.
func isSNIHost(vs *VirtualServiceSpec) bool {
	for _, t := range vs.TLS {
		for _, m := range t.Match {
			if len(m.SNIHosts) > 0 {
				return true
			}
		}
	}
	return false
}

// validateGatewayBoundDomain is Istio's
// ValidateWildcardDomainForVirtualServiceBoundToGateway: an SNI host may
// also be a name Istio generates for AUTO_PASSTHROUGH,
// outbound_.<PORT>_._.<HOSTNAME>.
func validateGatewayBoundDomain(sni bool, domain string) error {
	if err := checkDNS1123Preconditions(domain); err != nil {
		return err
	}
	if !sni || !strings.HasPrefix(domain, "outbound_") {
		return validateWildcardDomain(domain)
	}
	const format = "outbound_.<PORT>_._.<HOSTNAME>"
	parts := strings.Split(domain, "_")
	if len(parts) < 4 {
		return fmt.Errorf("domain name %s invalid, should follow '%s' format", domain, format)
	}
	port, hostname := strings.Trim(parts[1], "."), strings.Trim(parts[3], ".")
	if parts[0] != "outbound" {
		return fmt.Errorf("domain name %q invalid (label %q invalid)", domain, parts[0])
	}
	if !strings.ContainsAny(port, "0123456789") {
		return fmt.Errorf("domain name %q invalid (label %q invalid). should follow %s format", domain, port, format)
	}
	if !strings.ContainsFunc(hostname, func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }) {
		return fmt.Errorf("domain name %q invalid (label %q invalid). should follow %s format", domain, hostname, format)
	}
	return nil
}
