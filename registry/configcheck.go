package registry

import "github.com/sluicehq/sluice/internal/config"

// CheckConfig checks the keys the registry loader owns (docs/contract.md
// §3): limits.registry_bytes. registry.paths needs no check here (a path
// that cannot be read is a load error, with its name); registry.mode is
// enforced, and checked, by egress. It is a config.Check, run by
// config.Load.
func CheckConfig(c *config.Config) []config.Problem {
	return config.NonNegative("limits.registry_bytes", c.Limits.RegistryBytes)
}
