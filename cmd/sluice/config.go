package main

import (
	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/dnsproxy"
	"github.com/sluicehq/sluice/egress"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/telemetry"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/registry"
)

// configChecks lists the config checks of every component, in the order of
// the sections in sluice.yaml: config.Load runs its own checks (syntax,
// keys, types, listeners, admin, log) and then these, so that every
// command reports the same problems for the same file. A new component
// with a config section adds its CheckConfig here.
func configChecks() []config.Check {
	return []config.Check{
		registry.CheckConfig,        // limits.registry_bytes
		egress.CheckConfig,          // registry.mode, identity.*, limits.*
		dnsproxy.CheckConfig,        // dns.*
		policy.CheckConfig,          // policy.*
		audit.ConfigCheck(stores()), // audit.*, cost.*
		telemetry.CheckConfig,       // telemetry.*
	}
}
