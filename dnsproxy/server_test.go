package dnsproxy

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/vocab"
	"github.com/sluicehq/sluice/registry"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// testRegistryYAML declares one entry of each kind the DNS proxy answers for.
func testRegistryYAML() string {
	var big []string
	for i := range 100 {
		big = append(big, fmt.Sprintf("10.3.0.%d", i))
	}
	return se("static", []string{"static.example.com"}, "STATIC", endpoints("10.1.0.1", "10.1.0.2", "2001:db8::10")) +
		se("wild", []string{"*.wild.example.com"}, "STATIC", endpoints("10.2.0.1")) +
		se("none", []string{"*.none.example.com"}, "NONE", "") +
		se("dns", []string{"api.dns.example"}, "DNS", "") +
		se("named", []string{"named.example.com"}, "DNS", endpoints("backend.example.net", "10.4.0.1")) +
		se("vip", []string{"vip.example.com"}, "STATIC", "  addresses: [240.240.0.1, 10.10.0.0/16]\n"+endpoints("10.5.0.1")) +
		se("big", []string{"big.example.com"}, "STATIC", endpoints(big...)) +
		se("v6only", []string{"v6only.example.com"}, "STATIC", endpoints("2001:db8::1"))
}

// testUpstream answers the names the endpoints mode resolves.
func testUpstream(t testing.TB) *fakeUpstream {
	up := newUpstream(t)
	up.Add(t,
		"a.none.example.com. 300 IN A 93.184.216.50",
		"private.none.example.com. 300 IN A 10.9.9.9",
		"api.dns.example. 10 IN A 93.184.216.60",
		"api.dns.example. 10 IN AAAA 2606:2800::60",
		"backend.example.net. 300 IN A 93.184.216.70",
		"kube-dns.kube-system.svc.cluster.local. 5 IN A 10.96.0.10",
		"big.cluster.local. 5 IN TXT "+strings.Repeat("x", 200),
	)
	up.set(func(u *fakeUpstream) { u.nx["missing.none.example.com."] = true })
	return up
}

type answerCase struct {
	name   string
	qtype  uint16
	rcode  int
	ips    []string // any order
	maxTTL uint32   // 0: dns.ttl (30)
}

func TestDeclaredAnswers(t *testing.T) {
	up := testUpstream(t)
	reg, _ := newRegistry(t, testRegistryYAML())

	gateway := dnsConfig("gateway", up.Addr)
	gateway.GatewayAddresses = []string{"127.0.0.1", "::1"}
	endpointsCfg := dnsConfig("endpoints", up.Addr)

	modes := []struct {
		mode  string
		cases []answerCase
	}{
		{"gateway", []answerCase{
			{"static.example.com", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.1"}, 0},
			{"static.example.com", dns.TypeAAAA, dns.RcodeSuccess, []string{"::1"}, 0},
			{"X.Wild.Example.COM", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.1"}, 0},
			{"deep.x.wild.example.com", dns.TypeAAAA, dns.RcodeSuccess, []string{"::1"}, 0},
			{"a.none.example.com", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.1"}, 0},
			{"static.example.com", dns.TypeMX, dns.RcodeSuccess, nil, 0},
			{"static.example.com", dns.TypeTXT, dns.RcodeSuccess, nil, 0},
			{"static.example.com", dns.TypeHTTPS, dns.RcodeSuccess, nil, 0},
			{"wild.example.com", dns.TypeA, dns.RcodeNameError, nil, 0},
			{"undeclared.example.org", dns.TypeA, dns.RcodeNameError, nil, 0},
		}},
		{"endpoints", []answerCase{
			{"static.example.com", dns.TypeA, dns.RcodeSuccess, []string{"10.1.0.1", "10.1.0.2"}, 0},
			{"static.example.com", dns.TypeAAAA, dns.RcodeSuccess, []string{"2001:db8::10"}, 0},
			{"static.example.com", dns.TypeSRV, dns.RcodeSuccess, nil, 0},
			{"x.WILD.example.com", dns.TypeA, dns.RcodeSuccess, []string{"10.2.0.1"}, 0},
			{"x.wild.example.com", dns.TypeAAAA, dns.RcodeSuccess, nil, 0},
			{"a.none.example.com", dns.TypeA, dns.RcodeSuccess, []string{"93.184.216.50"}, 0},
			{"a.none.example.com", dns.TypeAAAA, dns.RcodeSuccess, nil, 0},
			{"private.none.example.com", dns.TypeA, dns.RcodeSuccess, nil, 0},
			{"missing.none.example.com", dns.TypeA, dns.RcodeSuccess, nil, 0},
			{"api.dns.example", dns.TypeA, dns.RcodeSuccess, []string{"93.184.216.60"}, 10},
			{"api.dns.example", dns.TypeAAAA, dns.RcodeSuccess, []string{"2606:2800::60"}, 10},
			{"named.example.com", dns.TypeA, dns.RcodeSuccess, []string{"93.184.216.70", "10.4.0.1"}, 0},
			{"vip.example.com", dns.TypeA, dns.RcodeSuccess, []string{"240.240.0.1"}, 0},
			{"vip.example.com", dns.TypeAAAA, dns.RcodeSuccess, nil, 0},
			{"v6only.example.com", dns.TypeA, dns.RcodeSuccess, nil, 0},
			{"v6only.example.com", dns.TypeAAAA, dns.RcodeSuccess, []string{"2001:db8::1"}, 0},
			{"undeclared.example.org", dns.TypeAAAA, dns.RcodeNameError, nil, 0},
		}},
	}
	for _, md := range modes {
		cfg := gateway
		if md.mode == "endpoints" {
			cfg = endpointsCfg
		}
		loop := startServer(t, ServerOptions{Config: cfg, Registry: reg, Recorder: &memRecorder{}})
		lib := startServer(t, ServerOptions{Config: cfg, Registry: reg, Recorder: &memRecorder{}}, true)
		for _, tc := range md.cases {
			for _, network := range []string{"udp", "tcp", "udp-lib"} {
				s := loop
				if network == "udp-lib" {
					s, network = lib, "udp"
				}
				t.Run(fmt.Sprintf("%s/%s/%s/%s", md.mode, network, tc.name, dns.TypeToString[tc.qtype]), func(t *testing.T) {
					r := query(t, s.Addr(), network, tc.name, tc.qtype, 1232)
					checkAnswer(t, r, tc)
					if r.IsEdns0() == nil {
						t.Error("no OPT in the reply to an EDNS0 query")
					}
				})
			}
		}
	}
}

func checkAnswer(t *testing.T, r *dns.Msg, tc answerCase) {
	t.Helper()
	if r.Rcode != tc.rcode {
		t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
	}
	got := answerIPs(r)
	slices.Sort(got)
	want := slices.Clone(tc.ips)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("answer %v, want %v", got, want)
	}
	if len(r.Answer) != len(tc.ips) {
		t.Fatalf("%d answer records, want %d: %v", len(r.Answer), len(tc.ips), r.Answer)
	}
	if tc.rcode == dns.RcodeSuccess && !r.Authoritative {
		t.Error("declared answer not authoritative")
	}
	maxTTL := tc.maxTTL
	if maxTTL == 0 {
		maxTTL = 30
	}
	for _, rr := range r.Answer {
		if rr.Header().Name != dns.Fqdn(tc.name) {
			t.Errorf("owner %q, want the queried name %q", rr.Header().Name, dns.Fqdn(tc.name))
		}
		if rr.Header().Ttl == 0 || rr.Header().Ttl > maxTTL {
			t.Errorf("TTL %d, want 1..%d", rr.Header().Ttl, maxTTL)
		}
		if rr.Header().Rrtype == dns.TypeCNAME {
			t.Errorf("CNAME in a declared answer: %v", rr)
		}
	}
}

func TestRoundRobin(t *testing.T) {
	reg, _ := newRegistry(t, testRegistryYAML())
	s := startServer(t, ServerOptions{Config: dnsConfig("endpoints"), Registry: reg, UDPSockets: 1})
	firsts := map[string]bool{}
	for range 4 {
		r := query(t, s.Addr(), "udp", "static.example.com", dns.TypeA, 0)
		firsts[answerIPs(r)[0]] = true
	}
	if len(firsts) != 2 {
		t.Fatalf("first records over 4 queries: %v; want both addresses to lead in turn", firsts)
	}
}

func TestUndeclaredAudit(t *testing.T) {
	reg, _ := newRegistry(t, testRegistryYAML())
	rec := &memRecorder{}
	clock := newTestClock()
	s := startServerAt(t, ServerOptions{Config: dnsConfig("gateway"), Registry: reg, Recorder: rec}, clock)
	before := clock.Now()
	for range 5 {
		if r := query(t, s.Addr(), "udp", "Evil.Example.ORG.", dns.TypeA, 0); r.Rcode != dns.RcodeNameError {
			t.Fatalf("rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
		}
	}
	if r := query(t, s.Addr(), "tcp", "evil.example.org", dns.TypeTXT, 0); r.Rcode != dns.RcodeNameError {
		t.Fatalf("rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	waitFor(t, "the first A and TXT records", func() bool { return len(rec.records()) == 2 })
	clock.Advance(DefaultFoldWindow) // the window ends: the A repeats are written
	s.denied.flush(false)
	waitFor(t, "3 audit records (first A, first TXT, folded A repeats)", func() bool { return len(rec.records()) >= 3 })
	clock.Advance(DefaultFoldWindow) // a further window: nothing more to flush
	s.denied.flush(false)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := rec.records()
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3: %+v", len(recs), recs)
	}
	byKey := map[string]audit.Record{}
	for _, r := range recs {
		k := r.Method
		if r.Count > 1 {
			k += " folded"
		}
		byKey[k] = r
	}
	for k, count := range map[string]int{"A": 0, "TXT": 0, "A folded": 4} {
		r, ok := byKey[k]
		if !ok {
			t.Fatalf("no %q record in %+v", k, recs)
		}
		if r.Event != vocab.EventDNSQuery || r.Decision != vocab.DecisionDeny || !r.Enforced ||
			r.Reason != "undeclared_destination" || r.Listener != "dns" || r.Kind != "dns" ||
			r.Host != "evil.example.org" || r.SourceIP != "127.0.0.1" || r.Count != count {
			t.Errorf("%s record: %+v", k, r)
		}
		if r.TimeStart.Before(before) || r.TimeEnd.Before(r.TimeStart) {
			t.Errorf("%s record times %v..%v", k, r.TimeStart, r.TimeEnd)
		}
	}
}

func TestReportOnlyForwardsUndeclared(t *testing.T) {
	up := testUpstream(t)
	up.Add(t, "elsewhere.example.org. 60 IN A 93.184.216.80")
	reg, _ := newRegistry(t, testRegistryYAML())
	rec := &memRecorder{}
	s := startServer(t, ServerOptions{Config: dnsConfig("gateway", up.Addr), Registry: reg, Recorder: rec, ReportOnly: true})
	r := query(t, s.Addr(), "udp", "elsewhere.example.org", dns.TypeA, 0)
	if got := answerIPs(r); !slices.Equal(got, []string{"93.184.216.80"}) {
		t.Fatalf("answer %v, want the upstream's", got)
	}
	waitFor(t, "the audit record", func() bool { return len(rec.records()) == 1 })
	if r := rec.records()[0]; r.Enforced || r.Decision != vocab.DecisionDeny {
		t.Fatalf("report-mode record %+v, want decision deny, enforced false", r)
	}
}

func TestForwardZones(t *testing.T) {
	up := testUpstream(t)
	reg, _ := newRegistry(t, testRegistryYAML())
	cfg := dnsConfig("gateway", up.Addr)
	cfg.ForwardZones = []string{"Cluster.Local."}
	rec := &memRecorder{}
	s := startServer(t, ServerOptions{Config: cfg, Registry: reg, Recorder: rec})

	r := query(t, s.Addr(), "udp", "kube-dns.kube-system.svc.cluster.local", dns.TypeA, 0)
	if got := answerIPs(r); r.Rcode != dns.RcodeSuccess || !slices.Equal(got, []string{"10.96.0.10"}) {
		t.Fatalf("forwarded answer %s %v, want the upstream's (private addresses relayed unchanged)", dns.RcodeToString[r.Rcode], got)
	}
	if r.Answer[0].Header().Ttl != 5 {
		t.Errorf("TTL %d, want the upstream's 5", r.Answer[0].Header().Ttl)
	}
	if r := query(t, s.Addr(), "udp", "nothere.svc.cluster.local", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Fatalf("forwarded empty answer: %v", r)
	}
	if r := query(t, s.Addr(), "udp", "notcluster.local", dns.TypeA, 0); r.Rcode != dns.RcodeNameError {
		t.Fatalf("notcluster.local: rcode %s, want NXDOMAIN (zone boundary is a label)", dns.RcodeToString[r.Rcode])
	}
	if q := up.queries.Load(); q != 2 {
		t.Errorf("upstream saw %d queries, want 2", q)
	}
	// Only notcluster.local is audited (asynchronously).
	waitFor(t, "one audit record", func() bool { return len(rec.records()) == 1 })
	if h := rec.records()[0].Host; h != "notcluster.local" {
		t.Errorf("audited %q, want notcluster.local", h)
	}

	// Every upstream down: SERVFAIL.
	cfg.Upstreams = []string{deadAddr(t).String(), deadAddr(t).String()}
	s2 := startServer(t, ServerOptions{Config: cfg, Registry: reg})
	if r := query(t, s2.Addr(), "udp", "kube-dns.kube-system.svc.cluster.local", dns.TypeA, 0); r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	// Endpoints mode, declared name resolved through a dead upstream: SERVFAIL too.
	cfg.Answer = "endpoints"
	s3 := startServer(t, ServerOptions{Config: cfg, Registry: reg})
	if r := query(t, s3.Addr(), "udp", "api.dns.example", dns.TypeA, 0); r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
}

func TestTruncation(t *testing.T) {
	up := testUpstream(t)
	reg, _ := newRegistry(t, testRegistryYAML())
	cfg := dnsConfig("endpoints", up.Addr)
	cfg.ForwardZones = []string{"cluster.local"}
	s := startServer(t, ServerOptions{Config: cfg, Registry: reg})

	tests := []struct {
		network string
		edns    uint16
		trunc   bool
		maxSize int
	}{
		{"udp", 0, true, 512},
		{"udp", 1232, true, 1232},
		{"udp", 4096, true, 1232}, // capped at 1232
		{"udp", 100, true, 512},   // below 512 counts as 512
		{"tcp", 0, false, 65535},
		{"tcp", 1232, false, 65535},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/edns%d", tt.network, tt.edns), func(t *testing.T) {
			m := new(dns.Msg)
			m.SetQuestion("big.example.com.", dns.TypeA)
			if tt.edns > 0 {
				m.SetEdns0(tt.edns, false)
			}
			c := &dns.Client{Net: tt.network, UDPSize: 65535, Timeout: 3 * time.Second}
			r, _, err := c.Exchange(m, s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			if r.Truncated != tt.trunc {
				t.Fatalf("TC=%v, want %v", r.Truncated, tt.trunc)
			}
			if !tt.trunc && len(r.Answer) != 100 {
				t.Fatalf("%d records over TCP, want all 100", len(r.Answer))
			}
			if tt.trunc && len(r.Answer) >= 100 {
				t.Fatalf("%d records in a truncated answer", len(r.Answer))
			}
			r.Compress = true // as sent
			if n := r.Len(); n > tt.maxSize {
				t.Fatalf("reply of %d bytes, limit %d", n, tt.maxSize)
			}
		})
	}
	// A forwarded answer is fitted to the client too.
	r := query(t, s.Addr(), "udp", "big.cluster.local", dns.TypeTXT, 0)
	if r.Rcode != dns.RcodeSuccess {
		t.Fatalf("forwarded TXT: %s", dns.RcodeToString[r.Rcode])
	}
}

func TestRegistryReload(t *testing.T) {
	reg, path := newRegistry(t, se("a", []string{"a.example.com"}, "STATIC", endpoints("10.0.0.1")))
	s := startServer(t, ServerOptions{Config: dnsConfig("endpoints"), Registry: reg})
	check := func(name string, rcode int, ips ...string) {
		t.Helper()
		r := query(t, s.Addr(), "udp", name, dns.TypeA, 0)
		checkAnswer(t, r, answerCase{name: name, qtype: dns.TypeA, rcode: rcode, ips: ips})
	}
	check("a.example.com", dns.RcodeSuccess, "10.0.0.1")
	check("b.example.com", dns.RcodeNameError)
	writeRegistry(t, path, se("a", []string{"a.example.com"}, "STATIC", endpoints("10.0.0.2"))+
		se("b", []string{"b.example.com"}, "STATIC", endpoints("10.0.0.3")))
	if err := reg.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("a.example.com", dns.RcodeSuccess, "10.0.0.2")
	check("b.example.com", dns.RcodeSuccess, "10.0.0.3")
	writeRegistry(t, path, se("b", []string{"b.example.com"}, "STATIC", endpoints("10.0.0.3")))
	if err := reg.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("a.example.com", dns.RcodeNameError)
}

func TestProtocolHygiene(t *testing.T) {
	for _, lib := range []bool{false, true} {
		t.Run(map[bool]string{false: "loop", true: "lib"}[lib], func(t *testing.T) { testProtocolHygiene(t, lib) })
	}
}

func testProtocolHygiene(t *testing.T, lib bool) {
	reg, _ := newRegistry(t, testRegistryYAML())
	s := startServer(t, ServerOptions{Config: dnsConfig("gateway"), Registry: reg}, lib)
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}

	t.Run("other class refused", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetQuestion("version.bind.", dns.TypeTXT)
		m.Question[0].Qclass = dns.ClassCHAOS
		r, _, err := c.Exchange(m, s.Addr())
		if err != nil || r.Rcode != dns.RcodeRefused {
			t.Fatalf("got %v, %v; want REFUSED", r, err)
		}
	})
	for _, qt := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
		t.Run(dns.TypeToString[qt]+" refused", func(t *testing.T) {
			if r := query(t, s.Addr(), "tcp", "static.example.com", qt, 0); r.Rcode != dns.RcodeRefused {
				t.Fatalf("rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
			}
		})
	}
	t.Run("only the first question", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetQuestion("static.example.com.", dns.TypeA)
		m.Question = append(m.Question, dns.Question{Name: "undeclared.example.org.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
		r, _, err := c.Exchange(m, s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Question) != 1 || r.Question[0].Name != "static.example.com." || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("reply %v", r)
		}
	})
	t.Run("EDNS version 1 gets BADVERS", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetQuestion("static.example.com.", dns.TypeA)
		m.SetEdns0(1232, false)
		m.IsEdns0().SetVersion(1)
		r, _, err := c.Exchange(m, s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if r.Rcode != dns.RcodeBadVers || r.IsEdns0() == nil || r.IsEdns0().Version() != 0 {
			t.Fatalf("reply %v", r)
		}
	})
	t.Run("other opcode not implemented", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetQuestion("static.example.com.", dns.TypeA)
		m.Opcode = dns.OpcodeStatus
		r, _, err := c.Exchange(m, s.Addr())
		if err != nil || r.Rcode != dns.RcodeNotImplemented {
			t.Fatalf("got %v, %v; want NOTIMP", r, err)
		}
	})

	raw := func(t *testing.T, b []byte) []byte {
		t.Helper()
		conn, err := net.Dial("udp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			return nil
		}
		return buf[:n]
	}
	valid, _ := new(dns.Msg).SetQuestion("static.example.com.", dns.TypeA).Pack()
	response := slices.Clone(valid)
	response[2] |= 0x80 // QR
	noQuestion := slices.Clone(valid[:12])
	noQuestion[5] = 0 // QDCOUNT 0
	badBody := slices.Clone(valid[:12])
	badBody = append(badBody, 0xc0, 0xff) // a compression pointer to nowhere

	// The UDP loop drops a packet whose body does not parse; dns.Server
	// answers it with FORMERR.
	badBodyReply := map[bool]string{false: "none", true: "formerr"}[lib]
	for _, tt := range []struct {
		name  string
		pkt   []byte
		reply string // "none", "formerr"
	}{
		{"short", []byte{1, 2, 3}, "none"},
		{"garbage", []byte(strings.Repeat("\xff", 40)), "none"},
		{"response", response, "none"},
		{"no question", noQuestion, "none"},
		{"bad body", badBody, badBodyReply},
	} {
		t.Run("malformed/"+tt.name, func(t *testing.T) {
			got := raw(t, tt.pkt)
			switch tt.reply {
			case "none":
				if got != nil {
					t.Fatalf("replied %x to a malformed packet", got)
				}
			case "formerr":
				m := new(dns.Msg)
				if err := m.Unpack(got); err != nil || m.Rcode != dns.RcodeFormatError || len(got) > len(tt.pkt)+16 {
					t.Fatalf("reply %x (%v), want a small FORMERR", got, err)
				}
			}
			// The server still answers.
			if r := query(t, s.Addr(), "udp", "static.example.com", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess {
				t.Fatalf("after a malformed packet: %v", r)
			}
		})
	}
}

// slowForward returns the test upstream, answering slow.cluster.local
// after delay, the test registry, and a dns config (answer mode) that
// forwards cluster.local to that upstream with a 2s timeout.
func slowForward(t *testing.T, answer string, delay time.Duration) (*fakeUpstream, *registry.Registry, config.DNS) {
	t.Helper()
	up := testUpstream(t)
	up.Add(t, "slow.cluster.local. 5 IN A 10.96.0.11")
	up.set(func(u *fakeUpstream) { u.delay = delay })
	reg, _ := newRegistry(t, testRegistryYAML())
	cfg := dnsConfig(answer, up.Addr)
	cfg.ForwardZones = []string{"cluster.local"}
	cfg.Timeout = config.Duration(2 * time.Second)
	return up, reg, cfg
}

func TestMaxInflight(t *testing.T) {
	for _, lib := range []bool{false, true} {
		t.Run(map[bool]string{false: "loop", true: "lib"}[lib], func(t *testing.T) { testMaxInflight(t, lib) })
	}
}

func testMaxInflight(t *testing.T, lib bool) {
	up, reg, cfg := slowForward(t, "gateway", 600*time.Millisecond)
	cfg.MaxInflight = 1
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	s := startServer(t, ServerOptions{Config: cfg, Registry: reg, MeterProvider: mp}, lib)

	var wg sync.WaitGroup
	wg.Go(func() {
		if r := query(t, s.Addr(), "udp", "slow.cluster.local", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess {
			t.Errorf("slow query: %s", dns.RcodeToString[r.Rcode])
		}
	})
	waitFor(t, "the slow query upstream", func() bool { return up.queries.Load() == 1 })
	if r := query(t, s.Addr(), "tcp", "static.example.com", dns.TypeA, 0); r.Rcode != dns.RcodeRefused {
		t.Errorf("TCP while full: %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	m := new(dns.Msg).SetQuestion("static.example.com.", dns.TypeA)
	if r, _, err := (&dns.Client{Timeout: 200 * time.Millisecond}).Exchange(m, s.Addr()); err == nil {
		t.Errorf("UDP while full answered %v, want it dropped", r)
	}
	wg.Wait()
	// The slot is freed just after the answer is sent.
	waitFor(t, "the slot to be free", func() bool { return s.inflight.Load() == 0 })
	if r := query(t, s.Addr(), "udp", "static.example.com", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("after the slow query: %s", dns.RcodeToString[r.Rcode])
	}
	want := map[string]int64{"forwarded": 1, "refused": 1, "dropped": 1, "answered": 1}
	// Counted just after the answer is sent.
	waitFor(t, "the counts", func() bool { return queryCounts(t, reader)["answered"] == 1 })
	got := queryCounts(t, reader)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("sluice_dns_queries_total{result=%q} = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}

// queryCounts reads sluice_dns_queries_total by result.
func queryCounts(t *testing.T, reader *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "sluice_dns_queries_total" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				v, _ := dp.Attributes.Value(attribute.Key("result"))
				out[v.AsString()] += dp.Value
			}
		}
	}
	return out
}

func TestNewServerErrors(t *testing.T) {
	reg, _ := newRegistry(t, testRegistryYAML())
	tests := []struct {
		name string
		mod  func(o *ServerOptions)
		want string
	}{
		{"no registry", func(o *ServerOptions) { o.Registry = nil }, "registry is required"},
		{"bad answer", func(o *ServerOptions) { o.Config.Answer = "magic" }, "dns.answer"},
		{"bad gateway address", func(o *ServerOptions) { o.Config.GatewayAddresses = []string{"nope"} }, "dns.gateway_addresses[0]"},
		{"no gateway address", func(o *ServerOptions) { o.Config.GatewayAddresses = nil }, "dns.gateway_addresses"},
		{"root forward zone", func(o *ServerOptions) { o.Config.ForwardZones = []string{"."} }, "dns.forward_zones[0]"},
		{"bad upstream", func(o *ServerOptions) { o.Config.Upstreams = []string{"x:y"} }, "dns.upstreams[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ServerOptions{Addr: "127.0.0.1:0", Config: dnsConfig("gateway"), Registry: reg}
			tt.mod(&o)
			_, err := NewServer(o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestStartBindFailure(t *testing.T) {
	reg, _ := newRegistry(t, testRegistryYAML())
	s1 := startServer(t, ServerOptions{Config: dnsConfig("gateway"), Registry: reg})
	s2, err := NewServer(ServerOptions{Addr: s1.Addr(), Config: dnsConfig("gateway"), Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Start(context.Background()); err == nil {
		_ = s2.Shutdown(context.Background())
		t.Fatal("a second server bound the same port")
	}
	// The first still serves.
	if r := query(t, s1.Addr(), "udp", "static.example.com", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess {
		t.Fatal(r)
	}
}

// A query waiting on an upstream does not hold up the others on UDP.
func TestSlowQueryDoesNotBlock(t *testing.T) {
	up, reg, cfg := slowForward(t, "endpoints", 500*time.Millisecond)
	s := startServer(t, ServerOptions{Config: cfg, Registry: reg, UDPSockets: 1})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if r := query(t, s.Addr(), "udp", "slow.cluster.local", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess {
				t.Errorf("slow query: %s", dns.RcodeToString[r.Rcode])
			}
		})
	}
	waitFor(t, "the slow queries upstream", func() bool { return up.queries.Load() >= 1 })
	start := time.Now()
	for range 20 {
		if r := query(t, s.Addr(), "udp", "static.example.com", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess {
			t.Fatal(r)
		}
	}
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Errorf("20 declared queries took %v while slow ones were pending", d)
	}
	wg.Wait()
}

// Many queries in flight on one socket: all answered, each to its ID
// (the UDP loop reads and writes them in batches of up to 32). Bursts of
// 100 stay under the kernel's socket buffers.
func TestUDPPipelined(t *testing.T) {
	reg, _ := newRegistry(t, testRegistryYAML())
	s := startServer(t, ServerOptions{Config: dnsConfig("endpoints"), Registry: reg, UDPSockets: 1})
	conn, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	names := []string{"static.example.com.", "x.wild.example.com.", "undeclared.example.org.", "v6only.example.com."}
	buf := make([]byte, 4096)
	id := uint16(0)
	for range 3 {
		want := map[uint16]string{}
		for i := range 100 {
			id++
			m := new(dns.Msg).SetQuestion(names[i%len(names)], dns.TypeA)
			m.Id = id
			want[m.Id] = names[i%len(names)]
			b, _ := m.Pack()
			if _, err := conn.Write(b); err != nil {
				t.Fatal(err)
			}
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for len(want) > 0 {
			k, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("%v; missing %v", err, want)
			}
			m := new(dns.Msg)
			if err := m.Unpack(buf[:k]); err != nil {
				t.Fatal(err)
			}
			name, ok := want[m.Id]
			if !ok || m.Question[0].Name != name {
				t.Fatalf("answer %d for %s: unexpected", m.Id, m.Question[0].Name)
			}
			delete(want, m.Id)
		}
	}
}
