package egress

import (
	"fmt"

	"github.com/sluicehq/sluice/internal/config"
)

// CheckConfig checks the sections the data plane owns (docs/contract.md
// §3): identity.*, limits.* (except limits.registry_bytes, the registry's)
// and registry.mode, which the decision pipeline enforces. It is a
// config.Check, run by config.Load for the commands that build a gateway.
func CheckConfig(c *config.Config) []config.Problem {
	ps := config.OneOf("registry.mode", c.Registry.Mode, "enforce", "report")
	ps = append(ps, checkIdentity(c.Identity)...)
	return append(ps, checkLimits(c.Limits)...)
}

// checkIdentity checks identity.*: the proxy listener's TLS files come in
// pairs, and every CIDR parses.
func checkIdentity(id config.Identity) []config.Problem {
	var ps []config.Problem
	p := id.ProxyTLS
	if (p.Cert == "") != (p.Key == "") {
		ps = append(ps, config.Problem{Key: "identity.proxy_tls", Msg: "cert and key must be set together"})
	}
	if p.ClientCA != "" && p.Cert == "" {
		ps = append(ps, config.Problem{Key: "identity.proxy_tls.client_ca", Msg: "needs identity.proxy_tls.cert and key"})
	}
	for i, cidr := range id.TrustXFCCFrom {
		ps = append(ps, config.CIDR(fmt.Sprintf("identity.trust_xfcc_from[%d]", i), cidr)...)
	}
	for i, s := range id.Sources {
		ps = append(ps, config.CIDR(fmt.Sprintf("identity.sources[%d].cidr", i), s.CIDR)...)
		if s.Workload == "" {
			ps = append(ps, config.Problem{Key: fmt.Sprintf("identity.sources[%d].workload", i), Msg: "required"})
		}
	}
	return ps
}

// checkLimits checks the data plane's limits.*.
func checkLimits(l config.Limits) []config.Problem {
	var ps []config.Problem
	ps = append(ps, config.AtLeast("limits.max_connections", l.MaxConnections, 1)...)
	ps = append(ps, config.Positive("limits.connect_timeout", l.ConnectTimeout)...)
	ps = append(ps, config.AtLeast("limits.max_header_bytes", l.MaxHeaderBytes, 1024)...)
	ps = append(ps, config.NonNegative("limits.body_timeout", l.BodyTimeout)...)
	return append(ps, config.NonNegative("limits.min_body_rate", l.MinBodyRate)...)
}
