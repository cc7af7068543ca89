package audit

// STUB: replaced by the audit work. Keeps the contract of contract.go so
// that the rest of Sluice builds meanwhile.

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/sluicehq/sluice/internal/config"
	"go.opentelemetry.io/otel/metric"
)

// Options configure an Auditor.
type Options struct {
	Config config.Audit
	Cost   config.Cost
	// Gateway is this instance's id (stable across restarts).
	Gateway       string
	Logger        *slog.Logger
	MeterProvider metric.MeterProvider
}

// Auditor writes records.
type Auditor struct{ opts Options }

// Open opens the store.
func Open(ctx context.Context, opts Options) (*Auditor, error) { return &Auditor{opts: opts}, nil }

// Begin commits the decision part.
func (a *Auditor) Begin(ctx context.Context, r *Record) error { return nil }

// End records the outcome.
func (a *Auditor) End(r *Record) {}

// Complete writes a whole record.
func (a *Auditor) Complete(ctx context.Context, r *Record) error { return nil }

// OnFailureDeny reports whether audit.on_failure is deny.
func (a *Auditor) OnFailureDeny() bool { return a.opts.Config.OnFailure != "allow" }

// Ready is nil while the store accepts writes.
func (a *Auditor) Ready() error { return nil }

// Handler serves /v1/audit and /v1/cost.
func (a *Auditor) Handler() http.Handler { return http.NotFoundHandler() }

// Close flushes and closes.
func (a *Auditor) Close(ctx context.Context) error { return nil }
