package registry

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Options configure a Registry.
type Options struct {
	// Paths are the files and directories to read.
	Paths []string
	Build BuildOptions
	// Logger receives reload results; default slog.Default().
	Logger *slog.Logger
	// MeterProvider receives sluice_config_reloads_total{kind="registry"}.
	MeterProvider metric.MeterProvider
}

// ReloadStatus is the outcome of the last load or reload, served on
// /v1/registry.
type ReloadStatus struct {
	Time        time.Time   `json:"time"`
	OK          bool        `json:"ok"`
	Generation  uint64      `json:"generation"` // generation in force after it
	Errors      Diagnostics `json:"errors,omitempty"`
	Warnings    Diagnostics `json:"warnings,omitempty"`
	Message     string      `json:"message,omitempty"`
	Entries     int         `json:"entries"`
	ReloadCount uint64      `json:"reloads"`
}

// Registry holds the current snapshot and replaces it on reload, only when
// the whole new set is valid.
type Registry struct {
	opts    Options
	log     *slog.Logger
	cur     atomic.Pointer[Snapshot]
	status  atomic.Pointer[ReloadStatus]
	mu      sync.Mutex // serialises reloads
	gen     uint64
	reloads uint64
	counter metric.Int64Counter

	subMu sync.Mutex
	subs  []func(*Snapshot)
}

// New returns a registry holding an empty snapshot; call Load.
func New(opts Options) *Registry {
	r := &Registry{opts: opts, log: opts.Logger}
	if r.log == nil {
		r.log = slog.Default()
	}
	mp := opts.MeterProvider
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	r.counter, _ = mp.Meter("sluice/registry").Int64Counter("sluice_config_reloads_total",
		metric.WithDescription("Config reloads by kind (registry, policy) and result (success, failure): file changes, SIGHUP, bundle downloads."))
	// Exported at 0 from the start, so that an alert on increase() fires
	// on the first failure.
	r.counter.Add(context.Background(), 0, metric.WithAttributes(attribute.String("kind", "registry"), attribute.String("result", "failure")))
	r.cur.Store(Empty())
	r.status.Store(&ReloadStatus{})
	return r
}

// Snapshot returns the set in force. It never returns nil.
func (r *Registry) Snapshot() *Snapshot { return r.cur.Load() }

// Status returns the result of the last load or reload.
func (r *Registry) Status() ReloadStatus { return *r.status.Load() }

// OnChange registers fn to run after every successful swap (the DNS proxy
// uses it to drop cached answers).
func (r *Registry) OnChange(fn func(*Snapshot)) {
	r.subMu.Lock()
	r.subs = append(r.subs, fn)
	r.subMu.Unlock()
}

// Load is the first load; it fails when the set is invalid.
func (r *Registry) Load(ctx context.Context) error { return r.Reload(ctx) }

// Reload re-reads the paths. A valid set replaces the current one
// atomically; an invalid set is rejected whole, logged with every error,
// counted, and the last good set stays in force.
func (r *Registry) Reload(ctx context.Context) error { return r.ReloadFrom(ctx, nil) }
