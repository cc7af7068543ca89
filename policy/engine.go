package policy

// STUB: replaced by the policy work. Keeps the contract of contract.go so
// that the rest of Sluice builds meanwhile.

import (
	"context"
	"log/slog"

	"github.com/sluicehq/sluice/internal/config"
	"go.opentelemetry.io/otel/metric"
)

// Options configure an Engine.
type Options struct {
	Config config.Policy
	// Paths are Config.Paths resolved against the config file.
	Paths         []string
	Logger        *slog.Logger
	MeterProvider metric.MeterProvider
}

// Status describes the policy in force.
type Status struct{}

// Engine evaluates policy.
type Engine struct{}

// New compiles the policy.
func New(ctx context.Context, opts Options) (*Engine, error) { return &Engine{}, nil }

// Decide evaluates the policy for in.
func (e *Engine) Decide(ctx context.Context, in *Input) Decision {
	return Decision{Allow: true, Enforced: true}
}

// Run watches for changes until ctx ends.
func (e *Engine) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// Reload recompiles.
func (e *Engine) Reload(ctx context.Context) error { return nil }

// Status returns the status.
func (e *Engine) Status() Status { return Status{} }

// Compile checks that the policy at paths compiles (for sluice validate).
func Compile(ctx context.Context, paths []string) error { return nil }
