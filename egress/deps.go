package egress

import (
	"context"
	"net/netip"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/registry"
)

// The parts the data plane uses, as small interfaces defined here (their
// user), so that the pipeline is tested in-process with fakes and
// `sluice check` needs no resolver or store. `sluice serve` passes
// *registry.Registry, *policy.Engine, *dnsproxy.Resolver and
// *audit.Auditor.

// Registry gives the declared destinations in force.
type Registry interface {
	Snapshot() *registry.Snapshot
}

// Policy decides a call from its input.
type Policy interface {
	Decide(ctx context.Context, in *policy.Input) policy.Decision
}

// Resolver turns a name into addresses (the gateway's own resolver).
type Resolver interface {
	LookupIP(ctx context.Context, host string) ([]netip.Addr, error)
}

// Recorder writes the audit records of calls.
type Recorder interface {
	// Begin commits a call's decision record before anything is dialled.
	Begin(ctx context.Context, r *audit.Record) error
	// End records the outcome of a begun call.
	End(r *audit.Record)
	// Complete writes a whole record (denials).
	Complete(ctx context.Context, r *audit.Record) error
	// OnFailureDeny reports audit.on_failure: deny.
	OnFailureDeny() bool
	// Ready reports whether records can be written now.
	Ready() error
}

// changeNotifier is a Registry that says when a new snapshot is in force
// (idle upstream connections are then dropped).
type changeNotifier interface {
	OnChange(func(*registry.Snapshot))
}
