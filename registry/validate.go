package registry

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Resolution modes of a ServiceEntry.
const (
	ResolutionNone          = "NONE"
	ResolutionStatic        = "STATIC"
	ResolutionDNS           = "DNS"
	ResolutionDNSRoundRobin = "DNS_ROUND_ROBIN"
	ResolutionDynamicDNS    = "DYNAMIC_DNS"
)

// TLS origination modes of a DestinationRule.
const (
	TLSDisable     = "DISABLE"
	TLSSimple      = "SIMPLE"
	TLSMutual      = "MUTUAL"
	TLSIstioMutual = "ISTIO_MUTUAL"
)

const unixAddressPrefix = "unix://"

// normResolution returns the canonical resolution name ("" = NONE).
func normResolution(s string) string {
	if s == "" {
		return ResolutionNone
	}
	return strings.ToUpper(s)
}

// validateServiceEntry applies the rules of Istio's ValidateServiceEntry,
// with Istio's messages, each attached to the field it concerns.
func validateServiceEntry(r *Resource) Diagnostics {
	se := r.parsing.se
	var ds Diagnostics
	errf := func(field, format string, a ...any) { ds = append(ds, r.diag(SevError, field, format, a...)) }
	warnf := func(field, format string, a ...any) { ds = append(ds, r.diag(SevWarning, field, format, a...)) }
	res := normResolution(se.Resolution)

	if se.WorkloadSelector != nil && se.Endpoints != nil {
		errf("spec.workloadSelector", "only one of WorkloadSelector or Endpoints is allowed in Service Entry")
	}
	if se.WorkloadSelector != nil && res == ResolutionNone {
		warnf("spec.workloadSelector", "workloadSelector has no effect with resolution NONE")
	}
	if len(se.Hosts) == 0 {
		errf("spec.hosts", "service entry must have at least one host")
	}
	if len(se.Hosts) > 256 {
		errf("spec.hosts", "must have at most 256 items")
	}
	for i, h := range se.Hosts {
		f := fmt.Sprintf("spec.hosts[%d]", i)
		if h == "*" {
			errf(f, "invalid host %s", h)
			continue
		}
		if err := validateWildcardDomain(h); err != nil {
			errf(f, "%v", err)
			continue
		}
		if len(h) > 1 && h[0] == '*' && h[1] != '.' && res != ResolutionDynamicDNS {
			warnf(f, "partial wildcard %q not allowed", h)
		}
	}

	cidrFound := false
	for i, a := range se.Addresses {
		f := fmt.Sprintf("spec.addresses[%d]", i)
		if strings.Contains(a, "/") {
			cidrFound = true
			if _, err := netip.ParsePrefix(a); err != nil {
				errf(f, "%q is not a valid CIDR", a)
			}
		} else if _, err := netip.ParseAddr(a); err != nil {
			errf(f, "%q is not a valid IP", a)
		}
	}
	if cidrFound && res != ResolutionNone && res != ResolutionStatic {
		errf("spec.addresses", "CIDR addresses are allowed only for NONE/STATIC resolution types")
	}

	switch strings.ToUpper(se.Location) {
	case "", "MESH_EXTERNAL", "MESH_INTERNAL":
	default:
		errf("spec.location", "unsupported location %s (want MESH_EXTERNAL or MESH_INTERNAL)", se.Location)
	}

	portNames := map[string]bool{}
	portNumbers := map[int]bool{}
	for i, p := range se.Ports {
		f := fmt.Sprintf("spec.ports[%d]", i)
		if portNames[p.Name] {
			errf(f+".name", "service entry port name %q already defined", p.Name)
		}
		portNames[p.Name] = true
		if portNumbers[p.Number] {
			errf(f+".number", "service entry port %d already defined", p.Number)
		}
		portNumbers[p.Number] = true
		if !isDNS1123Label(p.Name) {
			errf(f+".name", "invalid port name: %s", p.Name)
		}
		if _, ok := ParseProtocol(p.Protocol); !ok {
			errf(f+".protocol", "unsupported protocol: %s", p.Protocol)
		}
		if p.Number < 1 || p.Number > 65535 {
			errf(f+".number", "port number %d must be in the range 1..65535", p.Number)
		}
		if p.TargetPort != 0 && (p.TargetPort < 1 || p.TargetPort > 65535) {
			errf(f+".targetPort", "port number %d must be in the range 1..65535", p.TargetPort)
		}
	}
	if len(se.Ports) == 0 {
		// Istio accepts this, but the entry then declares nothing reachable.
		warnf("spec.ports", "no ports: the entry declares no reachable destination")
	}

	switch res {
	case ResolutionNone:
		if len(se.Endpoints) != 0 {
			errf("spec.endpoints", "no endpoints should be provided for resolution type none")
		}
	case ResolutionStatic:
		unix := false
		for i, ep := range se.Endpoints {
			f := fmt.Sprintf("spec.endpoints[%d]", i)
			if strings.HasPrefix(ep.Address, unixAddressPrefix) {
				unix = true
				if len(ep.Ports) != 0 {
					errf(f+".ports", "unix endpoint %s must not include ports", ep.Address)
				}
				continue
			}
			if ep.Address == "" && ep.Network != "" {
				warnf(f+".address", "endpoint with only a network is ignored by sluice")
				continue
			}
			if _, err := netip.ParseAddr(ep.Address); err != nil {
				errf(f+".address", "endpoint address %q is not a valid IP address", ep.Address)
			}
			ds = append(ds, endpointPorts(r, f, ep, portNames)...)
		}
		if unix && len(se.Ports) != 1 {
			errf("spec.ports", "exactly 1 service port required for unix endpoints")
		}
	case ResolutionDNS, ResolutionDNSRoundRobin:
		if len(se.Endpoints) == 0 {
			for i, h := range se.Hosts {
				if err := validateFQDN(h); err != nil && h != "*" {
					errf(fmt.Sprintf("spec.hosts[%d]", i), "hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode DNS")
				}
			}
		}
		if res == ResolutionDNSRoundRobin && len(se.Endpoints) > 1 {
			errf("spec.endpoints", "there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN")
		}
		for i, ep := range se.Endpoints {
			f := fmt.Sprintf("spec.endpoints[%d]", i)
			if strings.HasPrefix(ep.Address, unixAddressPrefix) {
				errf(f+".address", "endpoint address %q is not a valid FQDN or an IP address", ep.Address)
				continue
			}
			if net.ParseIP(ep.Address) == nil {
				if err := validateFQDN(ep.Address); err != nil {
					errf(f+".address", "endpoint address %q is not a valid FQDN or an IP address", ep.Address)
				}
			}
			ds = append(ds, endpointPorts(r, f, ep, portNames)...)
		}
	case ResolutionDynamicDNS:
		for i, h := range se.Hosts {
			if !IsWildcard(h) {
				errf(fmt.Sprintf("spec.hosts[%d]", i), "DYNAMIC_DNS resolution mode requires wildcard hosts, got %q", h)
			}
		}
		if len(se.Addresses) > 0 {
			errf("spec.addresses", "addresses are not allowed for DYNAMIC_DNS resolution mode")
		}
		if len(se.Endpoints) > 0 {
			errf("spec.endpoints", "endpoints are not allowed for DYNAMIC_DNS resolution mode")
		}
		for i, p := range se.Ports {
			switch pr, _ := ParseProtocol(p.Protocol); pr {
			case ProtoHTTP, ProtoTLS, ProtoGRPC, ProtoHTTP2:
			default:
				errf(fmt.Sprintf("spec.ports[%d].protocol", i), "DYNAMIC_DNS resolution mode only supports HTTP, TLS, GRPC and HTTP2 ports, got %q", p.Protocol)
			}
		}
	default:
		errf("spec.resolution", "unsupported resolution type %s", se.Resolution)
	}

	// TCP cannot tell hosts apart: several hosts need HTTP or TLS ports.
	if res != ResolutionNone && len(se.Hosts) > 1 {
		for _, p := range se.Ports {
			if pr, _ := ParseProtocol(p.Protocol); !pr.IsHTTP() && !pr.IsTLS() {
				errf("spec.hosts", "multiple hosts provided with non-HTTP, non-TLS ports")
				break
			}
		}
	}
	if res == ResolutionDNS && len(se.Addresses) > 0 && len(se.Hosts) > 1 {
		for _, p := range se.Ports {
			if pr, _ := ParseProtocol(p.Protocol); pr.IsTCP() {
				warnf("spec.hosts", "service entry can not have more than one host specified simultaneously with address and tcp port")
				break
			}
		}
	}
	ds = append(ds, validateExportTo(r, se.ExportTo)...)
	return ds
}

func endpointPorts(r *Resource, f string, ep WorkloadEntry, portNames map[string]bool) Diagnostics {
	var ds Diagnostics
	for name, port := range ep.Ports {
		if !portNames[name] {
			ds = append(ds, r.diag(SevError, f+".ports."+name, "endpoint port %v is not defined by the service entry", port))
		}
		if port < 1 || port > 65535 {
			ds = append(ds, r.diag(SevError, f+".ports."+name, "port number %d must be in the range 1..65535", port))
		}
	}
	return ds
}

func validateExportTo(r *Resource, exportTo []string) Diagnostics {
	var ds Diagnostics
	seen := map[string]bool{}
	for i, e := range exportTo {
		f := fmt.Sprintf("spec.exportTo[%d]", i)
		key := e
		if e == "." {
			key = r.Metadata.Namespace
		}
		if seen[key] {
			ds = append(ds, r.diag(SevError, f, "duplicate entries in exportTo: %s", e))
		}
		seen[key] = true
		if (e == "*" || e == "~") && len(exportTo) > 1 {
			ds = append(ds, r.diag(SevError, f, "%q must be the only entry in exportTo", e))
		}
		if e != "*" && e != "~" && e != "." && !isDNS1123Label(e) {
			ds = append(ds, r.diag(SevError, f, "invalid namespace %q in exportTo", e))
		}
	}
	return ds
}

// validateDestinationRule applies Istio's ValidateDestinationRule rules for
// host, traffic policies and TLS settings.
func validateDestinationRule(r *Resource) Diagnostics {
	dr := r.DestinationRule
	var ds Diagnostics
	if dr.Host == "*" {
		ds = append(ds, r.diag(SevError, "spec.host", "invalid destination host %s", dr.Host))
	} else if err := validateWildcardDomain(dr.Host); err != nil {
		ds = append(ds, r.diag(SevError, "spec.host", "%v", err))
	}
	ds = append(ds, validateTrafficPolicy(r, "spec.trafficPolicy", dr.TrafficPolicy)...)
	names := map[string]bool{}
	for i, s := range dr.Subsets {
		f := fmt.Sprintf("spec.subsets[%d]", i)
		if s.Name == "" {
			ds = append(ds, r.diag(SevError, f+".name", "subset name cannot be empty"))
		} else if !isDNS1123Label(s.Name) {
			ds = append(ds, r.diag(SevError, f+".name", "subset name is invalid: %s", s.Name))
		}
		if names[s.Name] {
			ds = append(ds, r.diag(SevError, f+".name", "duplicate subset names: %s", s.Name))
		}
		names[s.Name] = true
		ds = append(ds, validateTrafficPolicy(r, f+".trafficPolicy", s.TrafficPolicy)...)
	}
	ds = append(ds, validateExportTo(r, dr.ExportTo)...)
	return ds
}

func validateTrafficPolicy(r *Resource, f string, tp *TrafficPolicy) Diagnostics {
	if tp == nil {
		return nil
	}
	var ds Diagnostics
	if tp.LoadBalancer == nil && tp.ConnectionPool == nil && tp.OutlierDetection == nil && tp.TLS == nil &&
		len(tp.PortLevelSettings) == 0 && tp.Tunnel == nil && tp.ProxyProtocol == nil && tp.RetryBudget == nil {
		ds = append(ds, r.diag(SevError, f, "traffic policy must have at least one field"))
	}
	if tp.Tunnel != nil && tp.ProxyProtocol != nil {
		ds = append(ds, r.diag(SevError, f, "tunnel and proxyProtocol cannot be set together"))
	}
	ds = append(ds, validateTLS(r, f+".tls", tp.TLS)...)
	ports := map[int]bool{}
	for i, pl := range tp.PortLevelSettings {
		pf := fmt.Sprintf("%s.portLevelSettings[%d]", f, i)
		if pl.Port == nil {
			ds = append(ds, r.diag(SevError, pf+".port", "portTrafficPolicy must have valid port"))
		} else {
			if pl.Port.Number < 1 || pl.Port.Number > 65535 {
				ds = append(ds, r.diag(SevError, pf+".port.number", "port number %d must be in the range 1..65535", pl.Port.Number))
			}
			if ports[pl.Port.Number] {
				ds = append(ds, r.diag(SevWarning, pf+".port.number", "port %d has more than one port-level policy; the first applies", pl.Port.Number))
			}
			ports[pl.Port.Number] = true
		}
		if pl.OutlierDetection == nil && pl.ConnectionPool == nil && pl.LoadBalancer == nil && pl.TLS == nil {
			ds = append(ds, r.diag(SevError, pf, "port traffic policy must have at least one field"))
			continue
		}
		ds = append(ds, validateTLS(r, pf+".tls", pl.TLS)...)
	}
	return ds
}

// validateTLS is Istio's agent.ValidateTLS plus the checks Sluice needs to
// originate: a known mode.
func validateTLS(r *Resource, f string, s *ClientTLSSettings) Diagnostics {
	if s == nil {
		return nil
	}
	var ds Diagnostics
	errf := func(field, format string, a ...any) { ds = append(ds, r.diag(SevError, field, format, a...)) }
	mode := strings.ToUpper(s.Mode)
	switch mode {
	case "", TLSDisable, TLSSimple, TLSMutual:
	case TLSIstioMutual:
		ds = append(ds, r.diag(SevWarning, f+".mode", "ISTIO_MUTUAL is for hops inside the mesh; sluice does not originate Istio mTLS and sends plain traffic on this route"))
	default:
		errf(f+".mode", "unsupported tls mode %s (want DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL)", s.Mode)
	}
	if s.InsecureSkipVerify != nil && *s.InsecureSkipVerify {
		if mode == TLSSimple && (s.CACertificates != "" || s.CredentialName != "" || len(s.SubjectAltNames) > 0) {
			errf(f+".insecureSkipVerify", "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true")
		}
		if mode == TLSMutual && (s.CACertificates != "" || len(s.SubjectAltNames) > 0) {
			errf(f+".insecureSkipVerify", "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true")
		}
	}
	if (mode == TLSSimple || mode == TLSMutual) && s.CredentialName != "" {
		if s.ClientCertificate != "" || s.CACertificates != "" || s.PrivateKey != "" || s.CACrl != "" {
			errf(f+".credentialName", "cannot specify client certificates or CA certificate or CA CRL If credentialName is set")
		}
		return ds
	}
	if mode == TLSMutual {
		if s.ClientCertificate == "" {
			errf(f+".clientCertificate", "client certificate required for mutual tls")
		}
		if s.PrivateKey == "" {
			errf(f+".privateKey", "private key required for mutual tls")
		}
	}
	return ds
}
