package egress

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/sluicehq/sluice/internal/vocab"
	"github.com/sluicehq/sluice/registry"
)

// l4Route is the VirtualService tls or tcp rule and destination chosen
// for a tunnel (CONNECT, the tls listener).
type l4Route struct {
	rule *registry.L4Rule
	dest *registry.RouteDest
}

// routeL4 picks the tls or tcp rule of a tunnel whose route has such
// rules. It reports false when none matches (the tunnel is refused,
// no_route, as Envoy answers a request no route matches). A route
// without tls or tcp rules is left alone.
func (g *Gateway) routeL4(c *call) bool {
	rt := c.Route
	if rt == nil || len(rt.L4) == 0 {
		return true
	}
	req := registry.L4Request{Host: c.Host.String(), Port: c.Port}
	if ip, ok := c.Host.Addr(); ok {
		req.IP = ip
	}
	rule, dest, ok := rt.SelectL4(req)
	if !ok {
		return false
	}
	c.l4 = &l4Route{rule: rule, dest: dest}
	return true
}

// noL4Route is the detail of a tunnel no tls or tcp rule matches.
func noL4Route(c *call) string {
	return fmt.Sprintf("no tls or tcp rule of VirtualService %s matches %s", c.Route.VirtualService, hostPort(c.Host, c.Port))
}

// plan narrows p to the destination's subset and port.
func (r *l4Route) plan(p *dialPlan, host string) (*dialPlan, error) {
	d := r.dest
	if d.Labels == nil && d.DialPort == 0 {
		return p, nil
	}
	out := &dialPlan{host: p.host, connectTimeout: p.connectTimeout}
	for _, a := range p.addrs {
		if d.Labels != nil && !d.Selects(a.labels) {
			continue
		}
		if d.DialPort != 0 && a.network == "tcp" {
			if ap, err := netip.ParseAddrPort(a.addr); err == nil {
				a.addr = netip.AddrPortFrom(ap.Addr(), uint16(d.DialPort)).String()
			}
		}
		out.addrs = append(out.addrs, a)
	}
	if len(out.addrs) == 0 {
		what := "subset " + d.Subset
		if d.Subset == "" {
			what = "port " + strconv.Itoa(d.Port)
		}
		return nil, fail(vocab.UpstreamUnreachable, fmt.Errorf("%s of %s has no endpoint", what, host))
	}
	return out, nil
}
