package registry

import (
	"fmt"
	"net"
	"net/netip"
	"path"
	"slices"
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

// resolutionValues is the CRD's enum of ServiceEntry resolutions.
var resolutionValues = []string{ResolutionNone, ResolutionStatic, ResolutionDNS, ResolutionDNSRoundRobin, ResolutionDynamicDNS}

// normResolution returns the canonical resolution name ("" = NONE).
func normResolution(s string) string {
	if s == "" {
		return ResolutionNone
	}
	return strings.ToUpper(s)
}

// validateServiceEntry applies the rules of Istio's ValidateServiceEntry
// (istio/istio pkg/config/validation/validation.go), in Istio's order and
// with Istio's messages, each attached to the field it concerns. The few
// checks Istio leaves to the CRD schema (location) or that are Sluice's
// own (no ports) say so in their messages.
func validateServiceEntry(r *Resource) Diagnostics {
	se := r.parsing.se
	var ds Diagnostics
	errf := func(field, format string, a ...any) { ds = append(ds, r.diag(SevError, field, format, a...)) }
	warnf := func(field, format string, a ...any) { ds = append(ds, r.diag(SevWarning, field, format, a...)) }
	res := normResolution(se.Resolution)
	if se.Resolution != "" && se.Resolution != res && contains(resolutionValues, res) {
		// The CRD's enum is upper case; the API server refuses "dns".
		errf("spec.resolution", "unsupported value %q (want %s)", se.Resolution, strings.Join(resolutionValues, ", "))
	}

	// ValidateAlphaWorkloadSelector: a bad selector is reported alone.
	if ws := se.WorkloadSelector; ws != nil {
		for _, k := range sortedKeys(ws.Labels) {
			v := ws.Labels[k]
			if k == "" {
				errf("spec.workloadSelector.labels", "empty key is not supported in selector: %q", k+"="+v)
			}
			if strings.Contains(k, "*") || strings.Contains(v, "*") {
				errf("spec.workloadSelector.labels", "wildcard is not supported in selector: %q", k+"="+v)
			}
		}
		if len(ds) > 0 {
			return ds
		}
		if len(ws.Labels) == 0 {
			warnf("spec.workloadSelector", "service entry: %s, will be applied to all services in namespace", "workload selector specified without labels")
		}
	}
	if se.WorkloadSelector != nil && se.Endpoints != nil {
		errf("spec.workloadSelector", "only one of WorkloadSelector or Endpoints is allowed in Service Entry")
	}
	if len(se.Hosts) == 0 {
		errf("spec.hosts", "service entry must have at least one host")
	}
	// The CRD's list sizes.
	for _, l := range []struct {
		field    string
		n, limit int
	}{{"spec.hosts", len(se.Hosts), 256}, {"spec.addresses", len(se.Addresses), 256}, {"spec.ports", len(se.Ports), 256}, {"spec.endpoints", len(se.Endpoints), 4096}} {
		if l.n > l.limit {
			errf(l.field, "must have at most %d items", l.limit)
		}
	}
	for i, h := range se.Hosts {
		f := at{"spec.hosts", i}
		if h == "*" {
			errf(f.field(""), "invalid host %s", h)
			continue
		}
		if err := validateWildcardDomain(h); err != nil {
			errf(f.field(""), "%v", err)
		}
		if res != ResolutionDynamicDNS && strings.Contains(h, "*") && !strings.HasPrefix(h, "*.") {
			warnf(f.field(""), "partial wildcard %q not allowed", h)
		}
	}

	cidrFound := false
	for i, a := range se.Addresses {
		f := at{"spec.addresses", i}
		cidrFound = cidrFound || strings.Contains(a, "/")
		if strings.Count(a, "/") == 1 {
			if _, err := netip.ParsePrefix(a); err != nil {
				errf(f.field(""), "%v is not a valid CIDR block", a)
			}
		} else if _, err := netip.ParseAddr(a); err != nil {
			errf(f.field(""), "%v is not a valid IP", a)
		}
	}
	if cidrFound && res != ResolutionNone && res != ResolutionStatic {
		errf("spec.addresses", "CIDR addresses are allowed only for NONE/STATIC resolution types")
	}

	switch se.Location { // the CRD's enum, upper case only
	case "", "MESH_EXTERNAL", "MESH_INTERNAL":
	default:
		errf("spec.location", "unsupported location %s (want MESH_EXTERNAL or MESH_INTERNAL)", se.Location)
	}

	portNames := map[string]bool{}
	portNumbers := map[int]bool{}
	for i, p := range se.Ports {
		f := at{"spec.ports", i}
		if p == nil {
			errf(f.field(""), "service entry port may not be null")
			continue
		}
		if portNames[p.Name] {
			errf(f.field(".name"), "service entry port name %q already defined", p.Name)
		}
		portNames[p.Name] = true
		if portNumbers[p.Number] {
			errf(f.field(".number"), "service entry port %d already defined", p.Number)
		}
		portNumbers[p.Number] = true
		if p.TargetPort != 0 && !validPort(p.TargetPort) {
			errf(f.field(".targetPort"), "port number %d must be in the range 1..65535", p.TargetPort)
		}
		if len(se.Addresses) == 0 && !autoAllocates(r, res) && (p.Protocol == "" || p.Protocol == "TCP") {
			warnf(f.field(".protocol"), "addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is not enabled")
		}
		if !isDNS1123Label(p.Name) {
			errf(f.field(".name"), "invalid port name: %s", p.Name)
		}
		if _, ok := ParseProtocol(p.Protocol); !ok {
			errf(f.field(".protocol"), "unsupported protocol: %s", p.Protocol)
		}
		if !validPort(p.Number) {
			errf(f.field(".number"), "port number %d must be in the range 1..65535", p.Number)
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
		if se.WorkloadSelector != nil {
			warnf("spec.workloadSelector", "workloadSelector should not be set when resolution mode is NONE")
		}
	case ResolutionStatic:
		unix := false
		for i, ep := range se.Endpoints {
			if ep == nil {
				errf(at{"spec.endpoints", i}.field(""), "endpoint cannot be nil")
				continue
			}
			unix = strings.HasPrefix(ep.Address, unixAddressPrefix) || unix
			ds = append(ds, validateStaticEndpoint(r, at{"spec.endpoints", i}, *ep, portNames)...)
		}
		if unix && len(portNames) != 1 { // Istio counts the distinct names
			errf("spec.ports", "exactly 1 service port required for unix endpoints")
		}
	case ResolutionDNS, ResolutionDNSRoundRobin:
		if len(se.Endpoints) == 0 {
			for i, h := range se.Hosts {
				if err := validateFQDN(h); err != nil {
					errf(fmt.Sprintf("spec.hosts[%d]", i), "hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode %s, %v", res, err)
					break
				}
			}
		}
		if res == ResolutionDNSRoundRobin && len(se.Endpoints) > 1 {
			errf("spec.endpoints", "there must only be 0 or 1 endpoint for resolution mode %s", res)
		}
		for i, ep := range se.Endpoints {
			f := at{"spec.endpoints", i}
			if ep == nil {
				errf(f.field(""), "endpoint cannot be nil")
				continue
			}
			if net.ParseIP(ep.Address) == nil {
				if err := validateFQDN(ep.Address); err != nil {
					errf(f.field(".address"), "endpoint address %q is not a valid FQDN or an IP address", ep.Address)
				}
			}
			c := &checker{r: r}
			c.labels(f.field(".labels"), ep.Labels)
			ds = append(append(ds, c.ds...), endpointPorts(r, f, *ep, portNames)...)
		}
		if len(se.Addresses) > 0 {
			for i, p := range se.Ports {
				if p == nil {
					errf(at{"spec.ports", i}.field(""), "ports cannot be nil")
					continue
				}
				if pr, _ := ParseProtocol(p.Protocol); pr.IsTCP() {
					if len(se.Hosts) > 1 {
						warnf("spec.hosts", "service entry can not have more than one host specified simultaneously with address and tcp port")
					}
					break
				}
			}
		}
	case ResolutionDynamicDNS:
		if len(se.Hosts) == 0 {
			errf("spec.hosts", "at least one wildcard host must be provided for resolution type %s", res)
		}
		for i, h := range se.Hosts {
			if !IsWildcard(h) {
				errf(fmt.Sprintf("spec.hosts[%d]", i), "host must be wildcarded for resolution mode %s", res)
			}
		}
		if len(se.Addresses) > 0 {
			// Istio's message lacks the space between "generated" and "from".
			errf("spec.addresses", "addresses cannot be set for resolution type %s. HTTP route domains will only be generatedfrom the hosts field values", res)
		}
		if len(se.Endpoints) > 0 {
			errf("spec.endpoints", "endpoints cannot be set for resolution type %s. Destination IP address determined from hostsfield values", res)
		}
		for i, p := range se.Ports {
			if p == nil {
				errf(at{"spec.ports", i}.field(""), "port cannot be nil")
				continue
			}
			switch pr, _ := ParseProtocol(p.Protocol); pr {
			case ProtoHTTP, ProtoTLS, ProtoGRPC, ProtoHTTP2:
			default:
				errf(fmt.Sprintf("spec.ports[%d].protocol", i), "only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type %s", res)
			}
		}
		if se.Location == "MESH_INTERNAL" && usesWaypoint(r) {
			errf("spec.location", "location MESH_INTERNAL with resolution type %s is not supported when using waypoints", res)
		}
	default:
		errf("spec.resolution", "unsupported resolution type %s", se.Resolution)
	}

	// TCP cannot tell hosts apart: several hosts need HTTP or TLS ports.
	if res != ResolutionNone && len(se.Hosts) > 1 {
		for i, p := range se.Ports {
			if p == nil {
				errf(at{"spec.ports", i}.field(""), "ports cannot be nil")
				continue
			}
			if pr, _ := ParseProtocol(p.Protocol); !pr.IsHTTP() && !pr.IsTLS() {
				errf("spec.hosts", "multiple hosts provided with non-HTTP, non-TLS ports")
				break
			}
		}
	}
	ds = append(ds, validateExportTo(r, se.ExportTo, true, false)...)
	return ds
}

// validateStaticEndpoint is Istio's validateWorkloadEntry for an endpoint
// of a STATIC ServiceEntry: an IP address or a unix socket path.
func validateStaticEndpoint(r *Resource, f at, ep WorkloadEntry, portNames map[string]bool) Diagnostics {
	var ds Diagnostics
	errf := func(field, format string, a ...any) { ds = append(ds, r.diag(SevError, field, format, a...)) }
	switch addr := ep.Address; {
	case addr == "" && ep.Network == "":
		errf(f.field(".address"), "address is required")
		return ds
	case addr == "":
		ds = append(ds, r.diag(SevWarning, f.field(".address"), "address is unset with network %q", ep.Network))
	case strings.HasPrefix(addr, unixAddressPrefix):
		if p := strings.TrimPrefix(addr, unixAddressPrefix); p == "" {
			errf(f.field(".address"), "unix address must not be empty")
		} else if !strings.HasPrefix(p, "@") && (!path.IsAbs(p) || strings.HasSuffix(p, "/")) {
			errf(f.field(".address"), "%s is not an absolute path to a file", p)
		}
		if len(ep.Ports) != 0 {
			errf(f.field(".ports"), "unix endpoint %s must not include ports", addr)
		}
	default:
		if _, err := netip.ParseAddr(addr); err != nil {
			errf(f.field(".address"), "endpoint address %q is not a valid IP address", addr)
		}
	}
	ds = append(ds, endpointPorts(r, f, ep, portNames)...)
	c := &checker{r: r}
	c.labels(f.field(".labels"), ep.Labels)
	return append(ds, c.ds...)
}

// autoAllocates is Istio's ShouldV2AutoAllocateIPFromConfig for an entry
// without addresses: Istio (PILOT_ENABLE_IP_AUTOALLOCATE, on by default)
// gives it an address unless its resolution is NONE or its label
// networking.istio.io/enable-autoallocate-ip is "false".
func autoAllocates(r *Resource, res string) bool {
	if res == ResolutionNone {
		return false
	}
	v, ok := r.Metadata.Labels["networking.istio.io/enable-autoallocate-ip"]
	return !ok || !strings.EqualFold(v, "false")
}

// usesWaypoint is Istio's usesWaypoint: the resource's
// istio.io/use-waypoint label names a waypoint (is set, and not "none").
func usesWaypoint(r *Resource) bool {
	v, ok := r.Metadata.Labels["istio.io/use-waypoint"]
	return ok && v != "" && !strings.EqualFold(v, "none")
}

// endpointPorts checks an endpoint's port map: names the entry declares,
// valid port names and numbers. Names are taken in order, so that the
// findings are the same from one run to the next.
func endpointPorts(r *Resource, f at, ep WorkloadEntry, portNames map[string]bool) Diagnostics {
	if len(ep.Ports) == 0 {
		return nil
	}
	var ds Diagnostics
	names := make([]string, 0, len(ep.Ports))
	for name := range ep.Ports {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		port := ep.Ports[name]
		if !portNames[name] {
			ds = append(ds, r.diag(SevError, f.field(".ports."+name), "endpoint port %v is not defined by the service entry", port))
		}
		if !isDNS1123Label(name) {
			ds = append(ds, r.diag(SevError, f.field(".ports."+name), "invalid port name: %s", name))
		}
		if !validPort(port) {
			ds = append(ds, r.diag(SevError, f.field(".ports."+name), "port number %d must be in the range 1..65535", port))
		}
	}
	return ds
}

// at is item i of the list at path list, e.g. spec.ports[2]; its path is
// made only when a finding needs it, since most entries have none.
type at struct {
	list string
	i    int
}

// field is the path of sub ("", ".name") under the item.
func (a at) field(sub string) string { return fmt.Sprintf("%s[%d]%s", a.list, a.i, sub) }

// validPort is Istio's ValidatePort.
func validPort(p int) bool { return 1 <= p && p <= 65535 }
