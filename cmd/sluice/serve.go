package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/discard"
	"github.com/sluicehq/sluice/audit/httpapi"
	"github.com/sluicehq/sluice/dnsproxy"
	"github.com/sluicehq/sluice/egress"
	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/logx"
	"github.com/sluicehq/sluice/internal/netguard"
	"github.com/sluicehq/sluice/internal/sources"
	"github.com/sluicehq/sluice/internal/telemetry"
	"github.com/sluicehq/sluice/internal/version"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/registry/kube"
	"github.com/spf13/cobra"
)

func newServeCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath, configChecks()...)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return serve(ctx, cfg)
		},
	}
	addConfigFlag(cmd, &cfgPath)
	return cmd
}

// addConfigFlag adds -c/--config; SLUICE_CONFIG is the default.
func addConfigFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "config", "c", os.Getenv("SLUICE_CONFIG"), "config file (default: the embedded default)")
}

// app is one running gateway: every component, built once in serve.
type app struct {
	cfg      *config.Config
	log      *slog.Logger
	access   *slog.Logger // the access log, buffered
	metrics  *telemetry.Metrics
	tracing  *telemetry.Tracing
	registry *registry.Registry
	kube     *kube.Source // registry.kubernetes; nil when off
	policy   *policy.Engine
	auditor  *audit.Auditor
	resolver *dnsproxy.Resolver
	dns      *dnsproxy.Server
	admin    *admin.Server
	guard    *netguard.Guard
	gw       *egress.Gateway
}

func gatewayID() string {
	if id := os.Getenv("SLUICE_GATEWAY_ID"); id != "" {
		return id
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "sluice"
	}
	return h
}

// serve builds every component, starts the listeners, and runs until ctx
// ends (SIGINT/SIGTERM); then it drains calls in flight for up to
// limits.drain_timeout.
func serve(ctx context.Context, cfg *config.Config) error {
	log := logx.New(os.Stderr, cfg.Log)
	// The access log (one line per call) is written every 50 ms rather than
	// a write(2) per line; other lines go out at once.
	accessOut := logx.NewBuffered(os.Stderr, 50*time.Millisecond)
	defer accessOut.Close()
	a := &app{cfg: cfg, log: log, access: logx.New(accessOut, cfg.Log)}
	var err error
	res := telemetry.Resource(ctx, cfg.Telemetry, version.Version, gatewayID())
	if a.metrics, err = telemetry.NewMetrics(res); err != nil {
		return err
	}
	if a.tracing, err = telemetry.NewTracing(ctx, cfg.Telemetry, res); err != nil {
		return err
	}
	mp := a.metrics.MeterProvider()
	l := cfg.Listeners
	if a.guard, err = netguard.NewGuard([]string{l.Proxy, l.HTTP, l.TLS, l.DNS, l.Admin}); err != nil {
		return err
	}

	a.registry = registry.New(registry.Options{Paths: cfg.ResolveAll(cfg.Registry.Paths), Logger: log, MeterProvider: mp,
		Build: registry.BuildOptions{MaxBytes: cfg.Limits.RegistryBytes, Gateways: cfg.Registry.Gateways, PodLabels: cfg.Registry.Kubernetes.PodLabels}})
	if err := a.loadRegistry(ctx); err != nil {
		return err
	}
	if a.policy, err = policy.New(ctx, policy.Options{Config: cfg.Policy, Paths: cfg.ResolveAll(cfg.Policy.Paths), Logger: log, MeterProvider: mp}); err != nil {
		return err
	}
	if cfg.Audit.Store == discard.URL {
		log.Warn("audit.store is discard://: NO CALL IS RECORDED (for benchmarks only)")
	}
	if a.auditor, err = audit.Open(ctx, audit.Options{Config: cfg.Audit, Cost: cfg.Cost, Stores: stores(), Gateway: gatewayID(),
		Logger: log, MeterProvider: mp}); err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.auditor.Close(cctx); err != nil {
			log.Error("closing audit store", "err", err)
		}
	}()
	ups := make([]netip.AddrPort, 0, len(cfg.DNS.Upstreams))
	for _, u := range cfg.DNS.Upstreams {
		ap, _ := config.ParseHostPort(u, 53)
		ups = append(ups, ap)
	}
	a.resolver = dnsproxy.NewResolver(dnsproxy.ResolverOptions{Upstreams: ups, Timeout: cfg.DNS.Timeout.D(), Cache: cfg.DNS.Cache,
		Guard: a.guard, Logger: log, MeterProvider: mp})

	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	go func() {
		if err := a.watchRegistry(runCtx); err != nil {
			log.Error("registry watch stopped", "err", err)
		}
	}()
	go func() {
		if err := a.policy.Run(runCtx); err != nil {
			log.Error("policy watch stopped", "err", err)
		}
	}()
	go a.handleSIGHUP(runCtx)
	go a.guard.Watch(runCtx, 30*time.Second)

	if cfg.Listeners.DNS != "" {
		a.dns, err = dnsproxy.NewServer(dnsproxy.ServerOptions{Addr: cfg.Listeners.DNS, Config: cfg.DNS, Registry: a.registry,
			Resolver: a.resolver, Auditor: a.auditor, ReportOnly: cfg.Registry.Mode == "report", Logger: log, MeterProvider: mp,
			Sources: sources.New(cfg.Identity.Sources)})
		if err != nil {
			return err
		}
		if err := a.dns.Start(runCtx); err != nil {
			return err
		}
	}
	dataPlane, err := a.startDataPlane(runCtx)
	if err != nil {
		return err
	}
	if cfg.Listeners.Admin != "" {
		if err := a.startAdmin(); err != nil {
			return err
		}
	}
	log.Info("sluice started", "proxy", cfg.Listeners.Proxy, "http", cfg.Listeners.HTTP, "tls", cfg.Listeners.TLS,
		"dns", cfg.Listeners.DNS, "admin", cfg.Listeners.Admin, "config", cfgName(cfg))

	<-ctx.Done()
	log.Info("shutting down; draining calls in flight", "deadline", cfg.Limits.DrainTimeout.String())
	dctx, cancel := context.WithTimeout(context.Background(), cfg.Limits.DrainTimeout.D())
	defer cancel()
	var errs []error
	errs = append(errs, dataPlane(dctx))
	if a.dns != nil {
		errs = append(errs, a.dns.Shutdown(dctx))
	}
	if a.admin != nil {
		errs = append(errs, a.admin.Shutdown(dctx))
	}
	cancelRun()
	errs = append(errs, a.tracing.Shutdown(dctx), a.metrics.Shutdown(dctx))
	return errors.Join(errs...)
}

func cfgName(cfg *config.Config) string {
	if cfg.File == "" {
		return "<embedded default>"
	}
	return cfg.File
}

func (a *app) handleSIGHUP(ctx context.Context) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	defer signal.Stop(ch)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			a.log.Info("SIGHUP: reloading registry and policy")
			_ = a.reloadRegistry(ctx)
			_ = a.policy.Reload(ctx)
		}
	}
}

func (a *app) startAdmin() error {
	a.admin = admin.New(admin.Tokens{Admin: a.cfg.Admin.Token, Auditor: a.cfg.Admin.AuditorToken}, a.log)
	a.admin.OnRefused(a.recordRefused)
	a.admin.Handle("GET /metrics", a.metrics.Handler())
	// Readers (the auditor token too): the registry, the records, cost and
	// the console. Every read of records is itself recorded.
	a.admin.HandleReadJSON("/v1/registry", func(*http.Request) (any, error) { return registryView(a.registry, a.kube), nil })
	records := httpapi.New(a.auditor.Reader(), httpapi.Options{Damage: a.auditor.Damage, OnRead: a.recordRead})
	a.admin.HandleRead("/v1/audit", records)
	a.admin.HandleRead("/v1/cost", records)
	a.mountConsole()
	// The log's signed checkpoints and proofs: auditors verify with them.
	logs := httpapi.NewLog(a.auditor.LogStore(), httpapi.LogOptions{Gateway: a.auditor.Gateway(), Sync: a.auditor.Sync, OnRead: a.recordRead})
	a.admin.HandleRead("/v1/audit/checkpoint", logs)
	a.admin.HandleRead("/v1/audit/proof", logs)
	// The clusters of DestinationRule traffic policies: endpoints,
	// ejections, pool use (operations, not records: the admin token).
	a.admin.HandleJSON("/v1/upstreams", func(*http.Request) (any, error) {
		return map[string]any{"clusters": a.gw.Upstreams()}, nil
	})
	// The admin token only: reload, policy, pprof.
	a.admin.Handle("POST /v1/reload", http.HandlerFunc(a.reloadHandler))
	a.admin.AddCheck("registry", func(context.Context) error {
		if a.registry.Snapshot().Generation == 0 {
			return errors.New("not loaded")
		}
		return nil
	})
	a.admin.AddCheck("registry.kubernetes", a.kubeReady)
	a.admin.HandleJSON("/v1/policy", func(*http.Request) (any, error) { return a.policy.Status(), nil })
	a.admin.AddCheck("audit", func(context.Context) error { return a.auditor.Ready() })
	a.admin.AddCheck("policy", func(context.Context) error {
		if st := a.policy.Status(); st.State == policy.StateWaitingForBundle {
			return errors.New("waiting for the first policy bundle; every call is denied (policy_error)")
		}
		return nil
	})
	if err := a.admin.Listen(a.cfg.Listeners.Admin); err != nil {
		return err
	}
	go func() {
		if err := a.admin.Serve(); err != nil {
			a.log.Error("admin server stopped", "err", err)
		}
	}()
	return nil
}

// startDataPlane starts the proxy, http and tls listeners and returns the
// function that drains them.
func (a *app) startDataPlane(ctx context.Context) (func(context.Context) error, error) {
	gw, err := egress.New(egress.Options{Config: a.cfg, Registry: a.registry, Policy: a.policy, Auditor: a.auditor, AccessLogger: a.access,
		Resolver: a.resolver, Guard: a.guard, Logger: a.log, MeterProvider: a.metrics.MeterProvider(),
		TracerProvider: a.tracing.Provider, Propagator: a.tracing.Propagator})
	if err != nil {
		return nil, err
	}
	if err := gw.Start(ctx); err != nil {
		return nil, err
	}
	a.gw = gw
	return gw.Shutdown, nil
}
