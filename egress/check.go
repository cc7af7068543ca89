package egress

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/canon"
	"github.com/sluicehq/sluice/internal/lb"
	"github.com/sluicehq/sluice/internal/vocab"
	"github.com/sluicehq/sluice/registry"
)

// CheckResult is the answer of `sluice check`: what the pipeline would
// decide for a call, and where it would go, without sending anything.
type CheckResult struct {
	Decision       string          `json:"decision"` // allow|deny
	Enforced       bool            `json:"enforced"`
	Reason         string          `json:"reason,omitempty"`
	Detail         string          `json:"detail,omitempty"`
	PolicyReasons  []string        `json:"policy_reasons,omitempty"`
	Identity       Identity        `json:"identity"`
	Kind           string          `json:"kind"`
	Method         string          `json:"method"`
	Host           string          `json:"host"`
	Port           int             `json:"port"`
	Path           string          `json:"path"`
	ServiceEntry   string          `json:"service_entry,omitempty"`
	Route          *registry.Route `json:"route,omitempty"`
	TLSOrigination bool            `json:"tls_origination"`
	Targets        []string        `json:"dial_targets,omitempty"`
	Routing        *RoutingView    `json:"routing,omitempty"`
}

// RoutingView is how a call on a route with a VirtualService or a
// DestinationRule traffic policy would be routed: the rule and subset,
// the policy, and the endpoint the balancer would choose now.
type RoutingView struct {
	VirtualService string             `json:"virtual_service,omitempty"`
	Rule           *registry.HTTPRule `json:"rule,omitempty"`
	L4Rule         *registry.L4Rule   `json:"l4_rule,omitempty"` // a tunnel's tls or tcp rule
	Subset         string             `json:"subset,omitempty"`
	Cluster        string             `json:"cluster,omitempty"`
	Policy         *lb.Config         `json:"traffic_policy,omitempty"`
	Endpoint       string             `json:"endpoint,omitempty"`
	Note           string             `json:"note,omitempty"`
}

// routing works out the RoutingView of a checked HTTP call.
func (g *Gateway) routing(c *call) *RoutingView {
	rt := c.Route
	if rt == nil || (rt.Traffic == nil && len(rt.HTTP) == 0 && len(rt.L4) == 0) {
		return nil
	}
	v := &RoutingView{VirtualService: rt.VirtualService, Cluster: rt.Cluster, Policy: rt.Traffic}
	var dest *registry.RouteDest
	if c.Kind == vocab.KindHTTP {
		req := &http.Request{Method: c.Method, URL: &url.URL{Path: c.Path, RawQuery: c.query}, Header: c.Header}
		if rule, d, ok := rt.SelectHTTP(registry.HTTPRequest{Path: c.Path, Method: c.Method, Port: c.Port, Header: req.Header}); ok {
			v.Rule, v.Subset, v.Cluster, v.Policy, dest = rule, d.Subset, d.Cluster, d.Traffic, d
		} else if len(rt.HTTP) > 0 {
			v.Note = "no VirtualService rule matches: the call is refused (no_route)"
		}
	}
	if r := c.l4; r != nil {
		v.L4Rule, v.Subset, v.Cluster, v.Policy, dest = r.rule, r.dest.Subset, r.dest.Cluster, r.dest.Traffic, r.dest
	} else if len(rt.L4) > 0 {
		v.Note = "no VirtualService tls or tcp rule matches: the tunnel is refused (no_route)"
	}
	var cands []lb.Endpoint
	for _, t := range rt.Targets(c.Host) {
		if dest != nil && !dest.Selects(t.Labels) {
			continue
		}
		switch {
		case t.Unix != "":
			cands = append(cands, lb.Endpoint{Addr: "unix:" + t.Unix, Weight: t.Weight})
		case t.IP.IsValid():
			cands = append(cands, lb.Endpoint{Addr: netip.AddrPortFrom(t.IP, uint16(t.Port)).String(), Weight: t.Weight})
		default:
			cands = append(cands, lb.Endpoint{Addr: net.JoinHostPort(t.Host, strconv.Itoa(t.Port)), Weight: t.Weight})
		}
	}
	if v.Policy != nil && len(cands) > 0 {
		// A fresh cluster: the choice of a gateway that just started.
		req := &http.Request{URL: &url.URL{Path: c.Path, RawQuery: c.query}, Header: c.Header}
		p, err := lb.NewCluster(v.Cluster, *v.Policy, nil).Choose(cands, hashKey(v.Policy.LB, req, c.Identity.IP))
		if err == nil {
			v.Endpoint = cands[p.Index].Addr
		}
	}
	return v
}

// Check runs the decision pipeline for a call from `from` (an IP, or an
// identity such as a SPIFFE ID) to rawURL. http:// URLs are checked as
// plain HTTP requests (TLS origination applies); https:// URLs as the
// CONNECT a client would send. header (may be nil) is the request's
// headers, for VirtualService header matches and consistent hashing.
func (g *Gateway) Check(ctx context.Context, from, rawURL, method string, header http.Header) (*CheckResult, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("check: invalid URL %q: want http://host[:port]/path or https://…", rawURL)
	}
	if header == nil {
		header = http.Header{}
	}
	c := newCall(Request{Listener: vocab.ListenerCheck, Method: strings.ToUpper(method), Path: u.Path, Header: header})
	if c.Path == "" {
		c.Path = "/"
	}
	def := 80
	switch strings.ToLower(u.Scheme) {
	case "http":
		c.Kind = vocab.KindHTTP
	case "https":
		c.Kind, c.Method, def = vocab.KindConnect, "CONNECT", 443
	default:
		return nil, fmt.Errorf("check: unsupported scheme %q", u.Scheme)
	}
	host, port, err := canon.ParseAuthority(u.Host, def)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	c.Host, c.Port, c.query = host, port, u.RawQuery
	if ip, err := netip.ParseAddr(from); err == nil {
		c.Identity = g.ident.identify(ip, nil, nil)
	} else {
		c.Identity = Identity{ID: from, Source: vocab.IdentityMTLS}
		if strings.HasPrefix(from, "spiffe://") {
			c.Identity.Workload = spiffeWorkload(from)
		}
		if from == "" {
			c.Identity.Source = vocab.IdentityNone
		}
	}
	if c.Kind == vocab.KindConnect {
		if r, res := g.reg.Snapshot().Lookup(host, port); res == registry.Declared && passthroughTLS(r) && !host.IsIP() {
			c.SNI = host.String()
		}
	}
	g.decide(ctx, c)
	if !c.Denied && c.Kind == vocab.KindHTTP && !g.selectRoute(c, &http.Request{Header: c.Header}, &balanced{}) {
		c.deny(vocab.NoRoute, noHTTPRoute(c))
	}
	if !c.Denied && c.Kind == vocab.KindConnect && !g.routeL4(c) {
		c.deny(vocab.NoRoute, noL4Route(c))
	}
	res := &CheckResult{Decision: c.RecordedDecision(), Enforced: c.Enforced, Reason: string(c.Reason), Detail: c.Detail,
		PolicyReasons: c.PolicyRules, Identity: c.Identity, Kind: c.Kind, Method: c.Method, Host: c.Host.String(), Port: c.Port,
		Path: c.Path, TLSOrigination: c.TLSOrigination}
	if c.Route != nil && c.Route.Entry != nil && c.Route.Entry.Name != "" {
		res.ServiceEntry, res.Route = c.Route.Entry.ID(), c.Route
		for _, t := range c.Route.Targets(c.Host) {
			switch {
			case t.Unix != "":
				res.Targets = append(res.Targets, "unix:"+t.Unix)
			case t.IP.IsValid():
				res.Targets = append(res.Targets, netip.AddrPortFrom(t.IP, uint16(t.Port)).String()+" (declared)")
			default:
				res.Targets = append(res.Targets, net.JoinHostPort(t.Host, strconv.Itoa(t.Port))+" (resolved by the gateway, public addresses only)")
			}
		}
	}
	res.Routing = g.routing(c)
	return res, nil
}
