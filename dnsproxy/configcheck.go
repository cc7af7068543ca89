package dnsproxy

import (
	"fmt"
	"net/netip"

	"github.com/sluicehq/sluice/internal/config"
)

// CheckConfig checks dns.*, the DNS proxy's and the gateway resolver's
// section (docs/contract.md §3). It is a config.Check, run by config.Load.
func CheckConfig(c *config.Config) []config.Problem {
	d := c.DNS
	ps := config.OneOf("dns.answer", d.Answer, "gateway", "endpoints")
	for i, a := range d.GatewayAddresses {
		if _, err := netip.ParseAddr(a); err != nil {
			ps = append(ps, config.Problemf(fmt.Sprintf("dns.gateway_addresses[%d]", i), "invalid IP address %q", a))
		}
	}
	if d.Answer == "gateway" && len(d.GatewayAddresses) == 0 {
		ps = append(ps, config.Problem{Key: "dns.gateway_addresses", Msg: "must not be empty when dns.answer is gateway"})
	}
	for i, z := range d.ForwardZones {
		if _, err := parseForwardZone(z); err != nil {
			ps = append(ps, config.Problem{Key: fmt.Sprintf("dns.forward_zones[%d]", i), Msg: err.Error()})
		}
	}
	for i, u := range d.Upstreams {
		ps = append(ps, config.HostPort(fmt.Sprintf("dns.upstreams[%d]", i), u)...)
	}
	if d.Cache.MinTTL > d.Cache.MaxTTL {
		ps = append(ps, config.Problemf("dns.cache.min_ttl", "must not exceed dns.cache.max_ttl (%s)", d.Cache.MaxTTL))
	}
	return append(ps, config.AtLeast("dns.max_inflight", d.MaxInflight, 1)...)
}
