package dnsproxy

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/registry"
)

// fakeUpstream is a DNS server on loopback (UDP and TCP, same port) that
// answers from a zone table, for the resolver and forwarding tests.
type fakeUpstream struct {
	Addr    string
	queries atomic.Int64 // every query received, UDP and TCP
	tcp     atomic.Int64 // queries received over TCP

	mu       sync.Mutex
	records  map[string][]dns.RR // key: "name. TYPE" lower case
	nx       map[string]bool     // names that are NXDOMAIN
	soa      *dns.SOA            // authority of negative answers
	delay    time.Duration
	rcode    int  // when non-zero, every answer gets this rcode
	truncUDP bool // UDP answers are empty with TC set
	silent   bool // never answers
	udp, tc  *dns.Server
}

func newUpstream(t testing.TB) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{records: map[string][]dns.RR{}, nx: map[string]bool{}}
	var pc net.PacketConn
	var ln net.Listener
	for attempt := 0; ; attempt++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		u.Addr = pc.LocalAddr().String()
		if ln, err = net.Listen("tcp", u.Addr); err == nil {
			break
		}
		pc.Close() // the TCP port is taken: try another
		if attempt == 20 {
			t.Fatal(err)
		}
	}
	u.udp = &dns.Server{PacketConn: pc, Handler: u}
	u.tc = &dns.Server{Listener: ln, Handler: u}
	for _, s := range []*dns.Server{u.udp, u.tc} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { _ = s.ActivateAndServe() }()
		<-started
	}
	t.Cleanup(u.Close)
	return u
}

// Close stops the upstream (its port is then closed: queries fail fast).
func (u *fakeUpstream) Close() {
	_ = u.udp.Shutdown()
	_ = u.tc.Shutdown()
}

// AddrPort returns the upstream's address.
func (u *fakeUpstream) AddrPort() netip.AddrPort { return netip.MustParseAddrPort(u.Addr) }

// Add adds records in zone-file syntax.
func (u *fakeUpstream) Add(t testing.TB, lines ...string) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("bad record %q: %v", l, err)
		}
		k := strings.ToLower(rr.Header().Name) + " " + dns.TypeToString[rr.Header().Rrtype]
		u.records[k] = append(u.records[k], rr)
	}
}

func (u *fakeUpstream) set(f func(u *fakeUpstream)) {
	u.mu.Lock()
	f(u)
	u.mu.Unlock()
}

// ServeDNS answers from the table, following CNAMEs like a recursive
// resolver.
func (u *fakeUpstream) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	u.queries.Add(1)
	tcp := isTCP(w.RemoteAddr())
	if tcp {
		u.tcp.Add(1)
	}
	u.mu.Lock()
	delay, silent, rcode, trunc := u.delay, u.silent, u.rcode, u.truncUDP
	u.mu.Unlock()
	if silent {
		return
	}
	time.Sleep(delay)
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	if rcode != 0 {
		m.Rcode = rcode
		_ = w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	u.mu.Lock()
	name := strings.ToLower(q.Name)
	for hops := 0; hops < 8; hops++ {
		if cn := u.records[name+" CNAME"]; len(cn) > 0 && q.Qtype != dns.TypeCNAME {
			m.Answer = append(m.Answer, cn...)
			name = strings.ToLower(cn[0].(*dns.CNAME).Target)
			continue
		}
		break
	}
	m.Answer = append(m.Answer, u.records[name+" "+dns.TypeToString[q.Qtype]]...)
	if len(m.Answer) == 0 {
		if u.nx[name] {
			m.Rcode = dns.RcodeNameError
		}
		if u.soa != nil {
			m.Ns = append(m.Ns, u.soa)
		}
	}
	u.mu.Unlock()
	if trunc && !tcp {
		m.Answer, m.Truncated = nil, true
	}
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), false)
	}
	_ = w.WriteMsg(m)
}

// deadAddr returns a loopback UDP address nobody listens on.
func deadAddr(t testing.TB) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddrPort(pc.LocalAddr().String())
	pc.Close()
	return a
}

// memRecorder keeps audit records in memory.
type memRecorder struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (m *memRecorder) Complete(_ context.Context, r *audit.Record) error {
	m.mu.Lock()
	m.recs = append(m.recs, *r)
	m.mu.Unlock()
	return nil
}

func (m *memRecorder) records() []audit.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]audit.Record(nil), m.recs...)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newRegistry writes yaml to a temp file and loads it; rewrite it with
// writeRegistry and call Reload.
func newRegistry(t testing.TB, yaml string) (*registry.Registry, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "registry.yaml")
	writeRegistry(t, path, yaml)
	reg := registry.New(registry.Options{Paths: []string{path}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := reg.Load(context.Background()); err != nil {
		t.Fatalf("registry: %v", err)
	}
	return reg, path
}

func writeRegistry(t testing.TB, path, yaml string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
}

// se renders a ServiceEntry document.
func se(name string, hosts []string, resolution string, extra string) string {
	var b strings.Builder
	b.WriteString("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: " + name + ", namespace: test}\nspec:\n")
	b.WriteString("  hosts: [" + strings.Join(quoteAll(hosts), ", ") + "]\n")
	b.WriteString("  resolution: " + resolution + "\n")
	b.WriteString("  ports: [{number: 443, name: https, protocol: HTTPS}]\n")
	b.WriteString(extra)
	return b.String() + "---\n"
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = `"` + s + `"`
	}
	return out
}

func endpoints(ips ...string) string {
	var b strings.Builder
	b.WriteString("  endpoints:\n")
	for _, ip := range ips {
		b.WriteString("    - address: " + ip + "\n")
	}
	return b.String()
}

// dnsConfig returns a dns config section for tests.
func dnsConfig(answer string, upstreams ...string) config.DNS {
	c := config.Default().DNS
	c.Answer = answer
	c.Upstreams = upstreams
	c.Timeout = config.Duration(300 * time.Millisecond)
	return c
}

// startServer starts a DNS proxy on 127.0.0.1:0 and stops it at cleanup.
// libUDP serves UDP with dns.Server (as on a wildcard address) instead of
// the UDP loop.
func startServer(t testing.TB, opts ServerOptions, libUDP ...bool) *Server {
	t.Helper()
	return startServerAt(t, opts, nil, libUDP...)
}

// testClock is a clock the test moves: the denied-query recorder reads
// it, so which window a query falls in never depends on timing.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Unix(1_800_000_000, 0)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d.
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// startServerAt is startServer with the recorder reading clock (nil:
// the real one).
func startServerAt(t testing.TB, opts ServerOptions, clock *testClock, libUDP ...bool) *Server {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	s, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	if clock != nil {
		s.denied.now = clock.Now
	}
	s.libUDP = len(libUDP) > 0 && libUDP[0]
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

// query asks addr one question over network ("udp" or "tcp"); edns is the
// advertised UDP size (0: no EDNS0).
func query(t testing.TB, addr, network, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: network, Timeout: 3 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, dns.TypeToString[qtype], err)
	}
	return r
}

// answerIPs lists the A/AAAA addresses of r, sorted as received.
func answerIPs(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.AAAA:
			out = append(out, v.AAAA.String())
		}
	}
	return out
}
