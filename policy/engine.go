package policy

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// HTTPClient downloads remote bundles (default: 60s timeout, proxy
	// from the environment).
	HTTPClient *http.Client
	// Debounce folds a burst of file events into one reload (default
	// 200ms).
	Debounce time.Duration
	// StartupFetchTimeout bounds the first bundle download in New (default
	// 10s); after it the gateway starts and keeps polling.
	StartupFetchTimeout time.Duration
	// DisablePartialEval evaluates the policy as written instead of its
	// partially evaluated form (for comparison and debugging).
	DisablePartialEval bool
	// DisableCache evaluates every call instead of reusing the decision of
	// an identical input (for comparison and benchmarks).
	DisableCache bool
}

// Engine decides every call with the security team's Rego. It is safe for
// concurrent use: Decide reads the compiled policy through an atomic
// pointer, and loads (file changes, SIGHUP, bundle downloads) build a new
// one aside and swap it in only when it compiles.
type Engine struct {
	log      *slog.Logger
	paths    []string
	mode     string
	report   bool
	timeout  time.Duration
	debounce time.Duration
	interval time.Duration
	m        *instruments
	remote   *remote // nil without policy.bundle.url
	pollNow  chan struct{}
	copts    compileOptions

	cur atomic.Pointer[prepared]

	mu     sync.Mutex // serialises loads; guards the fields below
	local  *source    // last good local files
	bundle *source    // last good remote bundle, nil before the first
	etag   string     // of the active remote bundle
	status Status
}

// New loads and compiles the policy at opts.Paths. It fails when the
// local policy does not load or compile (the gateway refuses to start
// with a broken policy), naming file, line and column.
//
// With policy.bundle.url set, New also tries to download the bundle (for
// up to StartupFetchTimeout). If that fails, or the bundle does not
// compile, New still succeeds but every call is denied with policy_error
// until a bundle is activated (State waiting_for_bundle): the secure
// default for a fleet whose policy lives on the bundle server.
func New(ctx context.Context, opts Options) (*Engine, error) {
	cfg := opts.Config
	e := &Engine{
		log:      opts.Logger,
		paths:    opts.Paths,
		mode:     cfg.Mode,
		report:   cfg.Mode == "report",
		timeout:  cfg.Timeout.D(),
		debounce: opts.Debounce,
		interval: cfg.Bundle.PollingInterval.D(),
		pollNow:  make(chan struct{}, 1),
		copts:    compileOptions{noPartial: opts.DisablePartialEval, noCache: opts.DisableCache},
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.mode == "" {
		e.mode = "enforce"
	}
	if e.timeout <= 0 {
		e.timeout = 250 * time.Millisecond
	}
	if e.interval <= 0 {
		e.interval = 60 * time.Second
	}
	e.status.Mode = e.mode
	var err error
	if e.m, err = newInstruments(opts.MeterProvider); err != nil {
		return nil, fmt.Errorf("policy: metrics: %w", err)
	}
	if cfg.Bundle.URL != "" {
		vc, err := verificationConfig(cfg.Bundle.PublicKey)
		if err != nil {
			return nil, err
		}
		client := opts.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: 60 * time.Second}
		}
		e.remote = &remote{url: cfg.Bundle.URL, client: client, verify: vc}
		e.status.Remote = &RemoteStatus{URL: cfg.Bundle.URL, Verified: vc != nil}
	}

	if err := e.reload(ctx, "startup"); err != nil {
		return nil, err
	}
	if e.remote != nil {
		timeout := opts.StartupFetchTimeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		fctx, cancel := context.WithTimeout(ctx, timeout)
		if err := e.poll(fctx, "startup"); err != nil {
			e.log.Warn("policy: no bundle yet; denying every call with policy_error until one is activated",
				"url", cfg.Bundle.URL, "err", err)
		}
		cancel()
	}
	return e, nil
}

// Decide evaluates data.sluice.egress.allow and data.sluice.egress.reasons
// for in. It never fails: an evaluation error, an undefined or non-boolean
// allow, a timeout (policy.timeout) or a missing bundle is a denial with
// Reasons ["policy_error: …"] and Error set, in report mode too. In report
// mode a policy denial is returned as Allow with Enforced false.
func (e *Engine) Decide(ctx context.Context, in *Input) Decision {
	p := e.cur.Load()
	switch {
	case p.allowAll:
		return Decision{Allow: true, Enforced: true}
	case p.waiting != nil:
		return e.policyError(ctx, p.waiting)
	}
	if err := ctx.Err(); err != nil {
		return e.policyError(ctx, fmt.Errorf("policy evaluation cancelled: %w", err))
	}
	var key string
	if p.cache != nil {
		key = cacheKey(p.plan, in)
		if d, ok := p.cache.get(key); ok {
			e.m.cacheHits.Add(ctx, 1)
			return e.decision(d.allow, d.reasons)
		}
	}
	start := time.Now()
	allow, reasons, err := p.eval(ctx, in, e.timeout)
	e.m.evalDuration.Record(ctx, time.Since(start).Seconds())
	if err == nil && p.cache != nil {
		p.cache.put(key, cachedDecision{allow: allow, reasons: reasons})
	}
	if err != nil {
		e.log.Warn("policy error: call denied", "host", in.Destination.Host, "port", in.Destination.Port, "err", err)
		return e.policyError(ctx, err)
	}
	return e.decision(allow, reasons)
}

// decision turns a policy result into a Decision, applying report mode.
func (e *Engine) decision(allow bool, reasons []string) Decision {
	switch {
	case allow:
		return Decision{Allow: true, Enforced: true, Reasons: reasons}
	case e.report:
		return Decision{Allow: true, Enforced: false, Reasons: reasons}
	default:
		return Decision{Allow: false, Enforced: true, Reasons: reasons}
	}
}

func (e *Engine) policyError(ctx context.Context, err error) Decision {
	e.m.errors.Add(ctx, 1)
	return Decision{Allow: false, Enforced: true, Reasons: []string{"policy_error: " + err.Error()}, Error: err}
}

// Reload re-reads the local policy files now (SIGHUP) and asks Run to poll
// the bundle server at once. The last good policy stays in force when the
// new one does not load or compile; the error names file, line and column.
func (e *Engine) Reload(ctx context.Context) error {
	err := e.reload(ctx, "reload")
	if e.remote != nil {
		select {
		case e.pollNow <- struct{}{}:
		default:
		}
	}
	return err
}

// Status returns what is loaded and how the last load went.
func (e *Engine) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status.clone()
}

// reload loads the local paths and recompiles them with the active bundle.
func (e *Engine) reload(ctx context.Context, trigger string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	local, err := loadPaths(e.paths, false)
	if err != nil {
		return e.failed(ctx, trigger, err)
	}
	p, err := e.build(ctx, local, e.bundle)
	if err != nil {
		return e.failed(ctx, trigger, err)
	}
	e.local = local
	e.swap(ctx, trigger, p)
	return nil
}

// build merges and compiles local and remote. Without an active remote
// bundle when one is configured, the local policy is compiled (so a broken
// file is still reported) but every call is denied until the bundle comes.
func (e *Engine) build(ctx context.Context, local, remote *source) (*prepared, error) {
	src, err := merge(local, remote)
	if err != nil {
		return nil, Errors{{Message: err.Error()}}
	}
	p, err := compile(ctx, src, e.copts)
	if err != nil {
		return nil, err
	}
	if e.remote != nil && remote == nil {
		return &prepared{waiting: ErrNotLoaded, src: src}, nil
	}
	return p, nil
}

// swap installs p and records the success. e.mu is held.
func (e *Engine) swap(ctx context.Context, trigger string, p *prepared) {
	e.cur.Store(p)
	now := time.Now()
	e.m.reload(ctx, true)
	s := &e.status
	s.Generation++
	s.LoadedAt = now
	s.Modules = len(p.src.modules)
	s.Files = p.src.files
	s.Bundles = p.src.bundles
	switch {
	case p.waiting != nil:
		s.State = StateWaitingForBundle
	case p.allowAll:
		s.State = StateAllowAll
	default:
		s.State = StateActive
	}
	s.LastReload = ReloadStatus{Time: now, Trigger: trigger, Result: "success"}
	e.log.Info("policy loaded", "trigger", trigger, "state", s.State, "modules", s.Modules,
		"files", len(s.Files), "generation", s.Generation)
	if s.State == StateActive && !p.partial && !e.copts.noPartial {
		e.log.Info("policy: partial evaluation not used; evaluating the policy as written", "why", p.partialErr)
	}
}

// failed records a load that did not succeed; the policy in force stays.
// e.mu is held.
func (e *Engine) failed(ctx context.Context, trigger string, err error) error {
	e.m.reload(ctx, false)
	e.status.LastReload = ReloadStatus{Time: time.Now(), Trigger: trigger, Result: "failure", Error: err.Error()}
	kept := "none"
	if e.cur.Load() != nil {
		kept = fmt.Sprintf("generation %d", e.status.Generation)
	}
	e.log.Error("policy not loaded; keeping the last good policy", "trigger", trigger, "kept", kept,
		"err", strings.ReplaceAll(err.Error(), "\n", "; "))
	return err
}
