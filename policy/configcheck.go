package policy

import (
	"strings"

	"github.com/sluicehq/sluice/internal/config"
)

// CheckConfig checks policy.*, the OPA engine's section (docs/contract.md
// §3). It is a config.Check, run by config.Load. Whether the paths hold a
// policy that compiles is Compile's job (sluice validate), not this one.
func CheckConfig(c *config.Config) []config.Problem {
	p := c.Policy
	ps := config.OneOf("policy.mode", p.Mode, "enforce", "report")
	ps = append(ps, config.Positive("policy.timeout", p.Timeout)...)
	if p.Bundle.URL != "" {
		if !strings.HasPrefix(p.Bundle.URL, "http://") && !strings.HasPrefix(p.Bundle.URL, "https://") {
			ps = append(ps, config.Problemf("policy.bundle.url", "must be an http:// or https:// URL, got %q", p.Bundle.URL))
		}
		ps = append(ps, config.Positive("policy.bundle.polling_interval", p.Bundle.PollingInterval)...)
	}
	return ps
}
