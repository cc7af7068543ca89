package egress

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/canon"
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
}

// Check runs the decision pipeline for a call from `from` (an IP, or an
// identity such as a SPIFFE ID) to rawURL. http:// URLs are checked as
// plain HTTP requests (TLS origination applies); https:// URLs as the
// CONNECT a client would send.
func (g *Gateway) Check(ctx context.Context, from, rawURL, method string) (*CheckResult, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("check: invalid URL %q: want http://host[:port]/path or https://…", rawURL)
	}
	c := &call{listener: ListenerCheck, start: time.Now(), method: strings.ToUpper(method), path: u.Path}
	if c.path == "" {
		c.path = "/"
	}
	def := 80
	switch strings.ToLower(u.Scheme) {
	case "http":
		c.kind = KindHTTP
	case "https":
		c.kind, c.method, def = KindConnect, "CONNECT", 443
	default:
		return nil, fmt.Errorf("check: unsupported scheme %q", u.Scheme)
	}
	host, port, err := canon.ParseAuthority(u.Host, def)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	c.host, c.port = host, port
	if ip, err := netip.ParseAddr(from); err == nil {
		c.id = g.ident.identify(ip, nil, nil)
	} else {
		c.id = Identity{ID: from, Source: IdentityMTLS}
		if strings.HasPrefix(from, "spiffe://") {
			c.id.Workload = spiffeWorkload(from)
		}
		if from == "" {
			c.id.Source = IdentityNone
		}
	}
	if c.kind == KindConnect {
		if r, res := g.reg.Snapshot().Lookup(host, port); res == registry.Declared && passthroughTLS(r) && !host.IsIP() {
			c.sni = host.String()
		}
	}
	g.decide(ctx, c)
	res := &CheckResult{Decision: "allow", Enforced: c.enforced, Reason: c.reason, Detail: c.detail, PolicyReasons: c.policyReasons,
		Identity: c.id, Kind: c.kind, Method: c.method, Host: c.host.String(), Port: c.port, Path: c.path, TLSOrigination: c.tlsOrig}
	if c.denied || c.reason != "" {
		res.Decision = "deny"
	}
	if c.route != nil && c.route.Entry != nil && c.route.Entry.Name != "" {
		res.ServiceEntry, res.Route = c.route.Entry.ID(), c.route
		for _, t := range c.route.Targets(c.host) {
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
	return res, nil
}
