package dnsproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/sources"
	"github.com/sluicehq/sluice/registry"
	"go.opentelemetry.io/otel/metric"
)

// Defaults of ServerOptions.
const (
	DefaultTTL         = 30 * time.Second
	DefaultMaxInflight = 1024
	// maxQuerySize is the UDP read buffer: larger queries are malformed.
	maxQuerySize = 4096
)

// ServerOptions configure the DNS proxy.
type ServerOptions struct {
	// Addr is the dns listener address (UDP and TCP, same port). Port 0
	// picks a free port (see Addr()).
	Addr string
	// Config is the dns section: answer, gateway_addresses, forward_zones,
	// ttl, max_inflight (and, when Resolver is nil, the resolver's keys).
	Config   config.DNS
	Registry *registry.Registry
	// Resolver resolves endpoint names (endpoints mode) and forwards
	// forward_zones queries; nil builds one from Config.
	Resolver *Resolver
	// Auditor records denied queries.
	Auditor *audit.Auditor
	// Recorder, when set, records denied queries instead of Auditor
	// (tests, other stores).
	Recorder Recorder
	// ReportOnly is registry.mode: report. Undeclared names are then
	// forwarded to the upstreams instead of getting NXDOMAIN, and their
	// audit record says enforced=false.
	ReportOnly bool
	// UDPSockets is the number of UDP sockets bound to the port with
	// SO_REUSEPORT (the kernel spreads queries across them); 0 means
	// GOMAXPROCS.
	UDPSockets int
	// Sources names the workload of a source address (identity.sources),
	// so a denied query's record says which workload asked; nil names
	// none.
	Sources *sources.Map
	// FoldWindow is the window of the refused-query records (default
	// 10s, aligned to the wall clock): identical queries (same source,
	// name and type) are folded into one counted record per window, and
	// the per-source and per-window record limits apply per window (see
	// the README, "Records of refused queries").
	FoldWindow    time.Duration
	Logger        *slog.Logger
	MeterProvider metric.MeterProvider
}

// Server is the DNS proxy: declared names get answers built from the
// registry (or the gateway's addresses), names under the forward zones are
// relayed to the upstreams, and everything else gets NXDOMAIN and an
// audit record. See the package README for the full behaviour table.
type Server struct {
	opts     ServerOptions
	log      *slog.Logger
	metrics  *serverMetrics
	resolver *Resolver
	denied   *deniedLog

	endpoints   bool         // dns.answer: endpoints
	gw4, gw6    []netip.Addr // dns.gateway_addresses by family
	ttl         time.Duration
	zones       []string // forward zones, lower case, no trailing dot
	maxInflight int64
	udpSockets  int

	inflight atomic.Int64
	rr       atomic.Uint32 // rotates multi-record answers

	ctx    context.Context // ends on Shutdown: upstream work of in-flight queries
	cancel context.CancelFunc

	mu      sync.Mutex
	servers []*dns.Server // TCP, and UDP on a wildcard address
	loops   []*udpLoop    // UDP on a specific address
	addr    string
	started bool
	stopped bool
	libUDP  bool // tests: serve UDP with dns.Server even on a specific address
}

// NewServer checks opts and returns a server; Start binds it. Errors name
// the config key at fault.
func NewServer(opts ServerOptions) (*Server, error) {
	if opts.Registry == nil {
		return nil, errors.New("dnsproxy: a registry is required")
	}
	s := &Server{opts: opts, log: opts.Logger, metrics: newServerMetrics(opts.MeterProvider)}
	if s.log == nil {
		s.log = slog.Default()
	}
	c := opts.Config
	switch c.Answer {
	case "", "gateway":
	case "endpoints":
		s.endpoints = true
	default:
		return nil, fmt.Errorf("dnsproxy: dns.answer: %q is not gateway or endpoints", c.Answer)
	}
	for i, a := range c.GatewayAddresses {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return nil, fmt.Errorf("dnsproxy: dns.gateway_addresses[%d]: invalid IP address %q", i, a)
		}
		if ip = ip.Unmap(); ip.Is4() {
			s.gw4 = append(s.gw4, ip)
		} else {
			s.gw6 = append(s.gw6, ip)
		}
	}
	if !s.endpoints && len(s.gw4)+len(s.gw6) == 0 {
		return nil, errors.New("dnsproxy: dns.gateway_addresses: must not be empty when dns.answer is gateway")
	}
	for i, z := range c.ForwardZones {
		n, err := parseForwardZone(z)
		if err != nil {
			return nil, fmt.Errorf("dnsproxy: dns.forward_zones[%d]: %w", i, err)
		}
		s.zones = append(s.zones, n)
	}
	s.ttl = c.TTL.D()
	if s.ttl <= 0 {
		s.ttl = DefaultTTL
	}
	s.maxInflight = int64(c.MaxInflight)
	if s.maxInflight <= 0 {
		s.maxInflight = DefaultMaxInflight
	}
	s.udpSockets = opts.UDPSockets
	if s.udpSockets <= 0 {
		s.udpSockets = runtime.GOMAXPROCS(0)
	}
	if !reusePortSupported {
		s.udpSockets = 1
	}
	s.resolver = opts.Resolver
	if s.resolver == nil {
		ups := make([]netip.AddrPort, 0, len(c.Upstreams))
		for i, u := range c.Upstreams {
			ap, err := config.ParseHostPort(u, 53)
			if err != nil {
				return nil, fmt.Errorf("dnsproxy: dns.upstreams[%d]: %w", i, err)
			}
			ups = append(ups, ap)
		}
		s.resolver = NewResolver(ResolverOptions{Upstreams: ups, Timeout: c.Timeout.D(), Cache: c.Cache,
			Logger: s.log, MeterProvider: opts.MeterProvider})
	}
	var rec Recorder
	switch {
	case opts.Recorder != nil:
		rec = opts.Recorder
	case opts.Auditor != nil:
		rec = opts.Auditor
	default:
		s.log.Warn("dns: no auditor: denied queries are not recorded (counted in sluice_dns_audit_dropped_total)")
	}
	s.denied = newDeniedLog(rec, !opts.ReportOnly, opts.FoldWindow, s.log, s.metrics)
	s.denied.sources = opts.Sources
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Start binds the UDP sockets and the TCP listener on Addr and returns
// once they are serving. A bind failure is an error (and nothing stays
// bound). ctx bounds the binding only; Shutdown stops the server.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("dnsproxy: server already started")
	}
	host, port, err := net.SplitHostPort(s.opts.Addr)
	if err != nil {
		return fmt.Errorf("dnsproxy: listeners.dns: %w", err)
	}
	var pcs []net.PacketConn
	var ln net.Listener
	for attempt := 0; ; attempt++ {
		pcs, ln, err = s.bind(ctx, host, port)
		// With port 0 the TCP port may be taken where UDP was free: retry.
		if err == nil || port != "0" || attempt == 4 {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("dnsproxy: listen %s: %w", s.opts.Addr, err)
	}
	s.addr = ln.Addr().String()
	lim := &limitListener{Listener: ln, max: s.maxInflight, onLimit: func() { s.metrics.count(resultRefused) }}

	started := make(chan struct{}, len(pcs)+1)
	failed := make(chan error, len(pcs)+1)
	serve := func(srv *dns.Server) {
		srv.Handler = s
		srv.UDPSize = maxQuerySize
		srv.MsgAcceptFunc = s.accept
		srv.MsgInvalidFunc = s.invalid
		srv.NotifyStartedFunc = func() { started <- struct{}{} }
		s.servers = append(s.servers, srv)
		go func() {
			if err := srv.ActivateAndServe(); err != nil {
				select {
				case failed <- err:
				default:
				}
				s.log.Error("dns: listener stopped", "addr", s.addr, "err", err)
			}
		}()
	}
	// On a specific address our own loop serves UDP (see udpLoop); on a
	// wildcard address dns.Server does, as it answers from the address
	// each query was sent to.
	ip, perr := netip.ParseAddr(host)
	if perr == nil && !ip.IsUnspecified() && !s.libUDP {
		for _, pc := range pcs {
			l := newUDPLoop(s, pc.(*net.UDPConn))
			s.loops = append(s.loops, l)
			go l.serve()
		}
	} else {
		for _, pc := range pcs {
			serve(&dns.Server{PacketConn: pc})
		}
	}
	serve(&dns.Server{Listener: lim})
	for range len(s.servers) {
		select {
		case <-started:
		case err := <-failed:
			s.closeAll()
			return fmt.Errorf("dnsproxy: serve %s: %w", s.addr, err)
		}
	}
	s.denied.start()
	s.started = true
	s.log.Info("dns proxy listening", "addr", s.addr, "udp_sockets", len(pcs), "answer", map[bool]string{true: "endpoints", false: "gateway"}[s.endpoints],
		"forward_zones", s.zones, "upstreams", s.resolver.Upstreams())
	return nil
}

// bind opens the TCP listener and the UDP sockets on host:port. Port "0"
// takes the port the first UDP socket gets.
func (s *Server) bind(ctx context.Context, host, port string) (pcs []net.PacketConn, ln net.Listener, err error) {
	lc := net.ListenConfig{}
	if s.udpSockets > 1 {
		lc.Control = reusePort
	}
	defer func() {
		if err != nil {
			for _, pc := range pcs {
				_ = pc.Close()
			}
			if ln != nil {
				_ = ln.Close()
			}
			pcs, ln = nil, nil
		}
	}()
	if port == "0" {
		pc, err := lc.ListenPacket(ctx, "udp", net.JoinHostPort(host, "0"))
		if err != nil {
			return pcs, ln, err
		}
		pcs = append(pcs, pc)
		port = strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)
	}
	addr := net.JoinHostPort(host, port)
	// TCP first when the port is given: it binds exclusively, so a second
	// gateway on the same port fails here even though SO_REUSEPORT would
	// let its UDP sockets share.
	if ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", addr); err != nil {
		return pcs, ln, err
	}
	for len(pcs) < s.udpSockets {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return pcs, ln, err
		}
		pcs = append(pcs, pc)
	}
	return pcs, ln, nil
}

func (s *Server) closeAll() {
	for _, l := range s.loops {
		l.stop()
		_ = l.conn.Close()
	}
	s.loops = nil
	for _, srv := range s.servers {
		if srv.PacketConn != nil {
			_ = srv.PacketConn.Close()
		}
		if srv.Listener != nil {
			_ = srv.Listener.Close()
		}
	}
	s.servers = nil
}

// Addr returns the address the server listens on (UDP and TCP), useful
// when Addr had port 0; "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Shutdown stops the listeners, waits for the queries in flight (until
// ctx ends), then writes the pending audit records.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.started || s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	servers, loops := s.servers, s.loops
	s.mu.Unlock()
	var errs []error
	for _, l := range loops {
		l.stop()
	}
	var wg sync.WaitGroup
	var emu sync.Mutex
	for _, srv := range servers {
		wg.Go(func() {
			if err := srv.ShutdownContext(ctx); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		})
	}
	wg.Wait()
	// Queries the UDP loops handed to goroutines hold in-flight slots.
	for s.inflight.Load() > 0 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	s.cancel()
	for _, l := range loops {
		if err := l.conn.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.denied.close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("audit records: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dnsproxy: shutdown: %w", err)
	}
	return nil
}

// parseForwardZone reads one dns.forward_zones entry: lower case, without
// surrounding dots. The root ("", ".") is refused: it would forward every
// name and make the proxy an open resolver. Config validation and the
// server both read zones here, so that `sluice validate` refuses exactly
// what `serve` would.
func parseForwardZone(z string) (string, error) {
	n := strings.Trim(strings.ToLower(strings.TrimSpace(z)), ".")
	if n == "" {
		return "", fmt.Errorf("%q would forward every name (an open resolver); list the zones to forward", z)
	}
	if _, ok := dns.IsDomainName(n + "."); !ok {
		return "", fmt.Errorf("invalid domain name %q", z)
	}
	return n, nil
}
