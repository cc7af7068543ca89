package registry

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/lb"
)

// L4Rule is one VirtualService tls or tcp rule compiled for one route:
// the passthrough traffic (CONNECT tunnels, the tls listener) it matches
// and its weighted destinations.
type L4Rule struct {
	// Name is "namespace/virtualservice#tls[i]" or "…#tcp[i]".
	Name  string      `json:"name"`
	Kind  string      `json:"kind"`            // "tls" or "tcp"
	Match []L4Match   `json:"match,omitempty"` // any of them; none: every tunnel
	Dests []RouteDest `json:"route"`
	total int
}

// L4Match is one tls or tcp match condition: every part set must match.
type L4Match struct {
	SNIHosts []string       `json:"sniHosts,omitempty"` // tls only; normalised, "*.x" wildcards
	Port     int            `json:"port,omitempty"`
	Subnets  []netip.Prefix `json:"destinationSubnets,omitempty"`
}

// L4Request is what a tls or tcp rule matches on: the tunnel's
// canonical destination host (the SNI, which must equal it), its
// destination port and, when the destination is an IP literal, that IP.
type L4Request struct {
	Host string
	Port int
	IP   netip.Addr
}

// SelectL4 finds the first tls or tcp rule of the route matching r and
// draws its destination by weight. ok is false when none matches; a
// route without such rules (len(rt.L4) == 0) is not routed by them.
func (rt *Route) SelectL4(r L4Request) (rule *L4Rule, dest *RouteDest, ok bool) {
	for i := range rt.L4 {
		h := &rt.L4[i]
		if !h.matches(&r) {
			continue
		}
		return h, pickDest(h.Dests, h.total), true
	}
	return nil, nil, false
}

// pickDest draws one of ds by weight (total is their sum).
func pickDest(ds []RouteDest, total int) *RouteDest {
	if len(ds) == 1 || total == 0 {
		return &ds[0]
	}
	n := rand.IntN(total)
	for j := range ds {
		if n < ds[j].Weight {
			return &ds[j]
		}
		n -= ds[j].Weight
	}
	return &ds[len(ds)-1]
}

func (h *L4Rule) matches(r *L4Request) bool {
	if len(h.Match) == 0 {
		return true
	}
	for i := range h.Match {
		m := &h.Match[i]
		if m.Port != 0 && m.Port != r.Port {
			continue
		}
		if len(m.SNIHosts) > 0 && !sniMatches(m.SNIHosts, r.Host) {
			continue
		}
		if len(m.Subnets) > 0 && !inSubnets(m.Subnets, r.IP) {
			continue
		}
		return true
	}
	return false
}

// sniMatches reports whether host is one of the sniHosts: equal, under a
// "*.x" wildcard, or "*".
func sniMatches(hosts []string, host string) bool {
	for _, h := range hosts {
		switch {
		case h == "*" || h == host:
			return true
		case strings.HasPrefix(h, "*.") && len(host) > len(h)-1 && strings.HasSuffix(host, h[1:]):
			return true
		}
	}
	return false
}

func inSubnets(ps []netip.Prefix, ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// virtualServiceL4 attaches to rt, a port that is not HTTP, the tls and
// tcp rules of the first VirtualService (in load order) that applies to
// the gateway, names rt's host and has such rules. A TLS or HTTPS port is
// routed by tls rules, then tcp rules (Istio's order for TLS services);
// other ports by tcp rules.
func (b *builder) virtualServiceL4(rt *Route, vss []*Resource, dr *Resource, ds *Diagnostics) {
	tlsPort := rt.Port.Protocol.IsTLS()
	for _, r := range vss {
		vs := r.VirtualService
		if (len(vs.TCP) == 0 && (!tlsPort || len(vs.TLS) == 0)) ||
			!appliesToGateway(vs, r.Metadata.Namespace, b.opts.Gateways) || !namesHost(vs, rt.Host) {
			continue
		}
		b.used[r] = true
		rt.VirtualService = r.Metadata.Namespace + "/" + r.Metadata.Name
		if tlsPort {
			for i := range vs.TLS {
				t := &vs.TLS[i]
				var ms []L4Match
				skip := len(t.Match) > 0
				for _, m := range t.Match {
					if b.matchApplies(m.Gateways, m.Port, r.Metadata.Namespace, rt) {
						ms = append(ms, compileL4Match(m.SNIHosts, m.Port, m.DestinationSubnets))
						skip = false
					}
				}
				if !skip {
					b.compileL4(r, "tls", i, ms, t.Route, rt, dr, ds)
				}
			}
		}
		for i := range vs.TCP {
			t := &vs.TCP[i]
			var ms []L4Match
			skip := len(t.Match) > 0
			for _, m := range t.Match {
				if b.matchApplies(m.Gateways, m.Port, r.Metadata.Namespace, rt) {
					ms = append(ms, compileL4Match(nil, m.Port, m.DestinationSubnets))
					skip = false
				}
			}
			if !skip {
				b.compileL4(r, "tcp", i, ms, t.Route, rt, dr, ds)
			}
		}
		return
	}
}

// matchApplies reports whether a match may apply to rt: its port (if
// any) is rt's, and its gateways (none: the VirtualService's, already
// checked) include the gateway sluice is. A rule none of whose matches
// applies is left out of rt.
func (b *builder) matchApplies(gws []string, port int64, ns string, rt *Route) bool {
	if port != 0 && int(port) != rt.Port.Number {
		return false
	}
	return len(gws) == 0 || appliesToGateway(&VirtualServiceSpec{Gateways: gws}, ns, b.opts.Gateways)
}

func compileL4Match(snis []string, port int64, subnets []string) L4Match {
	m := L4Match{Port: int(port)}
	for _, h := range snis {
		m.SNIHosts = append(m.SNIHosts, NormalizeHost(h))
	}
	for _, s := range subnets {
		if p, err := netip.ParsePrefix(s); err == nil {
			m.Subnets = append(m.Subnets, p.Masked())
		} else if ip, err := netip.ParseAddr(s); err == nil {
			ip = ip.Unmap()
			m.Subnets = append(m.Subnets, netip.PrefixFrom(ip, ip.BitLen()))
		}
	}
	return m
}

// compileL4 compiles tls or tcp rule i (kind) of r for rt and appends it.
func (b *builder) compileL4(r *Resource, kind string, i int, ms []L4Match, route []RouteDestination, rt *Route, dr *Resource, ds *Diagnostics) {
	f := fmt.Sprintf("spec.%s[%d]", kind, i)
	rule := L4Rule{Name: fmt.Sprintf("%s/%s#%s[%d]", r.Metadata.Namespace, r.Metadata.Name, kind, i), Kind: kind, Match: ms}
	for j, d := range route {
		if d.Destination == nil {
			continue
		}
		df := fmt.Sprintf("%s.route[%d].destination", f, j)
		rd, ok := b.routeDest(r, df, d.Destination, int(d.Weight), rt, dr, ds, true)
		if ok {
			rule.Dests = append(rule.Dests, rd)
			rule.total += rd.Weight
		}
	}
	if len(rule.Dests) > 0 {
		rt.L4 = append(rt.L4, rule)
	}
}

// routeDest compiles one destination of a rule for rt: its subset's
// endpoint labels and merged traffic policy, Istio's defaults otherwise,
// and, when ports is set (tls and tcp rules), the other declared port it
// names. http rules keep the route's port: their destination.port is
// not applied (unchanged from before this was shared). ok is false for a
// destination that cannot be applied (reported in ds).
func (b *builder) routeDest(r *Resource, df string, d *Destination, weight int, rt *Route, dr *Resource, ds *Diagnostics, ports bool) (RouteDest, bool) {
	if NormalizeHost(d.Host) != rt.Host {
		*ds = append(*ds, r.diag(SevWarning, df+".host", "not applied by sluice: %s has no effect on calls through the gateway",
			"a destination host other than the VirtualService host ("+d.Host+")"))
		return RouteDest{}, false
	}
	rd := RouteDest{Subset: d.Subset, Weight: weight, Traffic: rt.Traffic, Cluster: rt.Cluster}
	if ports && d.Port != nil && d.Port.Number != 0 && d.Port.Number != rt.Port.Number {
		var p *Port
		for k := range rt.Entry.Ports {
			if rt.Entry.Ports[k].Number == d.Port.Number {
				p = &rt.Entry.Ports[k]
			}
		}
		if p == nil {
			*ds = append(*ds, r.diag(SevError, df+".port.number", "port %d is not declared by ServiceEntry %s for host %s", d.Port.Number, rt.Entry.ID(), rt.Host))
			return RouteDest{}, false
		}
		rd.Port, rd.DialPort = p.Number, p.DialPort()
	}
	if rd.Subset != "" {
		s := findSubset(dr, rd.Subset)
		if s == nil {
			*ds = append(*ds, r.diag(SevError, df+".subset", "subset %s is not defined by a DestinationRule for host %s", rd.Subset, rt.Host))
			return RouteDest{}, false
		}
		rd.Labels = s.Labels
		for _, k := range sortedKeys(s.Labels) {
			rd.labels = append(rd.labels, [2]string{k, s.Labels[k]})
		}
		rd.Traffic, rd.Cluster = b.subsetTraffic(dr, s, rt)
	}
	if rd.Traffic == nil {
		// Istio's defaults (least request, no limits): every routed
		// request is balanced over its destination's endpoints.
		rd.Traffic = &lb.Config{}
	}
	if rd.Cluster == "" {
		rd.Cluster = rt.Entry.Namespace + "/" + rt.Entry.Name + ":" + strconv.Itoa(rt.Port.Number)
	}
	return rd, true
}

// unappliedL4 warns about the fields of tls and tcp rules that sluice
// does not apply (source-side matches: sluice sees callers by address
// and identity, not by workload labels or namespace).
func (c *checker) unappliedL4(vs *VirtualServiceSpec) {
	const msg = "not applied by sluice: %s has no effect on calls through the gateway"
	for i, t := range vs.TLS {
		for j, m := range t.Match {
			mf := fmt.Sprintf("spec.tls[%d].match[%d]", i, j)
			for _, x := range []named{{"sourceLabels", m.SourceLabels != nil}, {"sourceNamespace", m.SourceNamespace != ""}} {
				if x.set {
					c.warnf(mf+"."+x.name, msg, "match."+x.name)
				}
			}
		}
	}
	for i, t := range vs.TCP {
		for j, m := range t.Match {
			mf := fmt.Sprintf("spec.tcp[%d].match[%d]", i, j)
			for _, x := range []named{{"sourceLabels", m.SourceLabels != nil}, {"sourceNamespace", m.SourceNamespace != ""},
				{"sourceSubnet", m.SourceSubnet != ""}} {
				if x.set {
					c.warnf(mf+"."+x.name, msg, "match."+x.name)
				}
			}
		}
	}
}
