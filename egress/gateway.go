// Package egress is Sluice's data plane: the proxy listener (absolute-URI
// HTTP and CONNECT, on its own HTTP/1.1 loop, else goproxy), the
// Host-routed http listener, the
// SNI-routed tls listener, the one decision pipeline they share, safe
// dialling, TLS origination and caller identity (docs/contract.md §§1, 5, 6, 7).
package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/elazarl/goproxy"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/fold"
	"github.com/sluicehq/sluice/internal/lb"
	"github.com/sluicehq/sluice/internal/netguard"
	"github.com/sluicehq/sluice/internal/vocab"
	"github.com/sluicehq/sluice/registry"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Options are the gateway's parts, built by `sluice serve` (and by tests,
// with fakes of the interfaces in deps.go).
type Options struct {
	Config   *config.Config
	Registry Registry
	Policy   Policy
	// Auditor and Resolver are needed to serve (Start), not to decide
	// (Check).
	Auditor  Recorder
	Resolver Resolver
	Guard    *netguard.Guard
	Logger   *slog.Logger
	// AccessLogger takes the access log's lines (log.access); nil: Logger.
	// serve gives it a buffered writer (logx.Buffered).
	AccessLogger  *slog.Logger
	MeterProvider metric.MeterProvider
	// TracerProvider and Propagator trace calls; nil means no spans, and a
	// caller's traceparent passes through unchanged.
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
}

// Gateway is the data plane.
type Gateway struct {
	cfg     *config.Config
	reg     Registry
	decider *Decider
	aud     Recorder
	log     *slog.Logger
	access  *slog.Logger // the access log
	ident   *identifier
	dialer  *dialer
	tr      *transports
	// lbs holds the state of DestinationRule traffic policies: endpoint
	// choice, pools and ejections, per route.
	lbs     *lb.Table
	fwd     *goproxy.ProxyHttpServer
	metrics *gwMetrics
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	slots   chan struct{}
	bufs    *copyBuffers
	// refusals folds identical requests net/http refused itself.
	refusals *fold.Folder[refusalKey]

	servers []*http.Server
	tlsLn   net.Listener
	addrs   map[string]string // listener name → bound address
	conns   sync.Map          // net.Conn → struct{}: hijacked tunnels and tls-listener conns
	wg      sync.WaitGroup
}

// New builds the gateway; Start binds its listeners.
func New(o Options) (*Gateway, error) {
	if o.Config == nil || o.Registry == nil || o.Policy == nil {
		return nil, errors.New("egress: config, registry and policy are required")
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	access := o.AccessLogger
	if access == nil {
		access = log
	}
	cfg := o.Config
	g := &Gateway{cfg: cfg, reg: o.Registry, aud: o.Auditor, log: log, access: access,
		decider: &Decider{Registry: o.Registry, Policy: o.Policy, ReportUndeclared: cfg.Registry.Mode == "report",
			IdentityRequired: cfg.Identity.Required},
		ident: newIdentifier(cfg.Identity), metrics: newMetrics(o.MeterProvider),
		slots: make(chan struct{}, cfg.Limits.MaxConnections), bufs: newCopyBuffers()}
	tp, prop := o.TracerProvider, o.Propagator
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	if prop == nil {
		prop = propagation.TraceContext{}
	}
	g.tracer, g.prop = tp.Tracer("sluice/egress"), prop
	g.dialer = &dialer{resolver: o.Resolver, guard: o.Guard, timeout: cfg.Limits.ConnectTimeout.D()}
	g.tr = newTransports(g.dialer, cfg.Limits.IdleTimeout.D(), cfg.Limits.ConnectTimeout.D())
	g.lbs = lb.NewTable(nil)
	g.metrics.observeClusters(o.MeterProvider, g.lbs)
	g.fwd = g.newForwarder()
	g.refusals = fold.New(rejectWindow, maxRejectKeys, g.emitRefusals)
	if n, ok := o.Registry.(changeNotifier); ok {
		n.OnChange(func(*registry.Snapshot) { g.tr.closeIdle() })
	}
	return g, nil
}

// Start binds the configured listeners (proxy, http, tls) and serves them
// until Shutdown.
func (g *Gateway) Start(ctx context.Context) error {
	if g.aud == nil || g.dialer.resolver == nil {
		return errors.New("egress: an auditor and a resolver are required to serve")
	}
	l := g.cfg.Listeners
	if l.Proxy != "" {
		ln, err := g.listen(vocab.ListenerProxy, l.Proxy)
		if err != nil {
			return err
		}
		lean := true
		if p := g.cfg.Identity.ProxyTLS; p.Cert != "" {
			tc, err := proxyTLSConfig(g.cfg, p)
			if err != nil {
				return err
			}
			ln, lean = tls.NewListener(ln, tc), false
		}
		g.serve(ln, vocab.ListenerProxy, lean)
	}
	if l.HTTP != "" {
		ln, err := g.listen(vocab.ListenerHTTP, l.HTTP)
		if err != nil {
			return err
		}
		g.serve(ln, vocab.ListenerHTTP, true)
	}
	if l.TLS != "" {
		ln, err := g.listen(vocab.ListenerTLS, l.TLS)
		if err != nil {
			return err
		}
		g.tlsLn = ln
		g.wg.Add(1)
		go func() { defer g.wg.Done(); g.serveTLS(context.WithoutCancel(ctx), ln) }()
	}
	go g.refusals.Run(ctx)
	return nil
}

func (g *Gateway) listen(name, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("egress: listen %s: %w", addr, err)
	}
	if g.addrs == nil {
		g.addrs = map[string]string{}
	}
	g.addrs[name] = ln.Addr().String()
	return &limitListener{Listener: ln, g: g}, nil
}

// Addr is the address a started listener is bound to ("" when it is
// off): the configured one, with the port the system chose for ":0".
func (g *Gateway) Addr(listener string) string { return g.addrs[listener] }

// serve runs an HTTP data-plane listener: the proxy or the http one.
// Unless it is TLS, its connections go to the loop of lean.go first, and
// net/http's server serves the ones the loop hands over.
func (g *Gateway) serve(ln net.Listener, listener string, lean bool) {
	srv := g.httpServer(g.serveHTTP(listener))
	if lean {
		ls := newLeanServer(g, ln, listener)
		ln = ls.handoff
		g.wg.Add(1)
		go func() { defer g.wg.Done(); ls.run() }()
	}
	ln = watchListener{Listener: ln, listener: listener}
	g.servers = append(g.servers, srv)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("listener stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

// httpServer is the net/http server of a data-plane listener (and of the
// HTTP served inside CONNECT tunnels): our limits, and the hooks that put
// the requests net/http refuses itself on record.
func (g *Gateway) httpServer(h http.Handler) *http.Server {
	lim := g.cfg.Limits
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.HeaderTimeout.D(),
		IdleTimeout:       lim.IdleTimeout.D(),
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ErrorLog:          g.serverLog(),
		ConnState:         g.connState,
		ConnContext:       connContext,
	}
}

// serverLog sends net/http's own messages to slog at debug level.
func (g *Gateway) serverLog() *log.Logger { return slog.NewLogLogger(g.log.Handler(), slog.LevelDebug) }

// proxyTLSConfig serves the proxy listener over TLS and asks callers for a
// client certificate signed by client_ca (identity_source mtls).
func proxyTLSConfig(cfg *config.Config, p config.ProxyTLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(cfg.Resolve(p.Cert), cfg.Resolve(p.Key))
	if err != nil {
		return nil, fmt.Errorf("egress: identity.proxy_tls: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	if p.ClientCA != "" {
		pem, err := os.ReadFile(cfg.Resolve(p.ClientCA))
		if err != nil {
			return nil, fmt.Errorf("egress: identity.proxy_tls.client_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("egress: identity.proxy_tls.client_ca: %s holds no PEM certificate", p.ClientCA)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return tc, nil
}

// trackConn registers a raw connection (tunnel, tls listener) so that
// Shutdown can wait for it and, past the deadline, close it.
func (g *Gateway) trackConn(c net.Conn) func() {
	g.wg.Add(1)
	g.conns.Store(c, struct{}{})
	return func() { g.conns.Delete(c); g.wg.Done() }
}

// Shutdown stops accepting, lets calls in flight finish until ctx ends,
// then closes what is left.
func (g *Gateway) Shutdown(ctx context.Context) error {
	if g.tlsLn != nil {
		_ = g.tlsLn.Close()
	}
	var errs []error
	var swg sync.WaitGroup
	for _, s := range g.servers {
		swg.Add(1)
		go func(s *http.Server) {
			defer swg.Done()
			if err := s.Shutdown(ctx); err != nil {
				_ = s.Close()
			}
		}(s)
	}
	swg.Wait()
	g.refusals.Flush(time.Now(), true)
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		n := 0
		g.conns.Range(func(k, _ any) bool { _ = k.(net.Conn).Close(); n++; return true })
		g.log.Warn("drain deadline reached; closed open tunnels", "count", n)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			errs = append(errs, errors.New("egress: connections still open after the drain deadline"))
		}
	}
	return errors.Join(errs...)
}

// Upstreams describes the clusters of DestinationRule traffic policies:
// policy, endpoints, ejections, pool use (GET /v1/upstreams).
func (g *Gateway) Upstreams() []lb.ClusterStatus { return g.lbs.Status() }
