package dnsproxy

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sluicehq/sluice/internal/config"
)

// fakeWriter is a dns.ResponseWriter that keeps the reply.
type fakeWriter struct {
	tcp     bool
	msg     *dns.Msg
	n       int
	packErr error
}

func (w *fakeWriter) LocalAddr() net.Addr {
	if w.tcp {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
}

func (w *fakeWriter) RemoteAddr() net.Addr {
	if w.tcp {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 40000}
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 40000}
}

func (w *fakeWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		w.packErr = err
		return err
	}
	w.msg, w.n = m, len(b)
	return nil
}

func (w *fakeWriter) Write(b []byte) (int, error) { w.n = len(b); return len(b), nil }
func (w *fakeWriter) Close() error                { return nil }
func (w *fakeWriter) TsigStatus() error           { return nil }
func (w *fakeWriter) TsigTimersOnly(bool)         {}
func (w *fakeWriter) Hijack()                     {}

// fuzzServer is an endpoints-mode server (not started) over the test
// registry, with a forward zone to a loopback upstream.
func fuzzServer(f *testing.F) *Server {
	up := testUpstream(f)
	up.Add(f, "x.cluster.local. 5 IN A 10.96.0.1")
	reg, _ := newRegistry(f, testRegistryYAML()+se("idn", []string{"xn--bcher-kva.example.com"}, "STATIC", endpoints("10.6.0.1")))
	cfg := dnsConfig("endpoints", up.Addr)
	cfg.ForwardZones = []string{"cluster.local"}
	cfg.Timeout = config.Duration(100 * time.Millisecond)
	s, err := NewServer(ServerOptions{Addr: "127.0.0.1:0", Config: cfg, Registry: reg, Recorder: &memRecorder{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	return s
}

// addSeeds adds queries of every kind the handler distinguishes.
func addSeeds(f *testing.F) {
	seed := func(name string, qt uint16, mod func(m *dns.Msg)) {
		m := new(dns.Msg)
		m.SetQuestion(name, qt)
		if mod != nil {
			mod(m)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed("static.example.com.", dns.TypeA, nil)
	seed("Static.EXAMPLE.com.", dns.TypeAAAA, nil)
	seed("x.wild.example.com.", dns.TypeAAAA, func(m *dns.Msg) { m.SetEdns0(1232, true) })
	seed("x.wild.example.com.", dns.TypeA, func(m *dns.Msg) {
		m.SetEdns0(4096, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
	})
	seed("big.example.com.", dns.TypeA, nil)
	seed("big.example.com.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(1232, false) })
	seed("vip.example.com.", dns.TypeA, nil)
	seed("a.none.example.com.", dns.TypeA, nil)
	seed("undeclared.example.org.", dns.TypeMX, nil)
	seed("_sip._tcp.undeclared.example.org.", dns.TypeSRV, func(m *dns.Msg) { m.CheckingDisabled = true })
	seed("x.cluster.local.", dns.TypeA, nil)
	seed("static.example.com.", dns.TypeAXFR, nil)
	seed("version.bind.", dns.TypeTXT, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS })
	seed("static.example.com.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(512, false); m.IsEdns0().SetVersion(1) })
	seed(".", dns.TypeNS, nil)
	for _, name := range nameSeeds() {
		seed(name, dns.TypeA, nil)
	}
	for _, pkt := range unpackableSeeds() {
		f.Add(pkt)
	}
	f.Add([]byte{})
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
}

// FuzzFastPath checks that the wire-level fast path (fastAnswer) answers
// exactly what the general path answers, and records the same, for every
// packet it takes.
func FuzzFastPath(f *testing.F) {
	s := fuzzServer(f)
	addSeeds(f)
	src := netip.MustParseAddr("127.0.0.2")
	f.Fuzz(func(t *testing.T, b []byte) {
		resetDenied(s)
		fast, ok := s.fastAnswer(b, src, make([]byte, 0, ednsSize))
		fastRecs := drainDenied(s)
		if !ok {
			if len(fastRecs) > 0 {
				t.Fatalf("fast path recorded %+v for a packet it left to the general path", fastRecs)
			}
			return
		}
		if s.accept(wireHeader(b)) != dns.MsgAccept {
			t.Fatalf("fast path answered a packet the server rejects")
		}
		r := new(dns.Msg)
		if err := r.Unpack(b); err != nil {
			t.Fatalf("fast path answered a packet that does not parse: %v", err)
		}
		rt := s.route(r)
		if s.blocking(&rt) {
			t.Fatalf("fast path answered a query that needs an upstream")
		}
		if rt.kind == routeBadName {
			t.Fatalf("fast path answered %q, which canon refuses: %v", r.Question[0].Name, rt.bad)
		}
		resetDenied(s)
		w := &fakeWriter{}
		s.answer(w, r, &rt, false, src)
		if w.msg == nil {
			t.Fatalf("general path sent nothing")
		}
		if a, b := recordKeys(fastRecs), recordKeys(drainDenied(s)); !slices.Equal(a, b) {
			t.Errorf("fast path recorded %v, general path %v", a, b)
		}
		slowWire, _ := w.msg.Pack()
		slow, got := new(dns.Msg), new(dns.Msg)
		if err := slow.Unpack(slowWire); err != nil {
			t.Fatal(err)
		}
		if err := got.Unpack(fast); err != nil {
			t.Fatalf("fast reply does not parse: %v (%x)", err, fast)
		}
		if len(fast) > len(slowWire) && len(fast) > dns.MinMsgSize {
			t.Errorf("fast reply %d bytes, general %d", len(fast), len(slowWire))
		}
		if got.MsgHdr != slow.MsgHdr {
			t.Errorf("header %+v, general path %+v", got.MsgHdr, slow.MsgHdr)
		}
		if !slices.Equal(got.Question, slow.Question) {
			t.Errorf("question %v, general path %v", got.Question, slow.Question)
		}
		if a, b := rrStrings(got.Answer), rrStrings(slow.Answer); !slices.Equal(a, b) {
			t.Errorf("answer %v, general path %v", a, b)
		}
		if a, b := rrStrings(append(got.Ns, got.Extra...)), rrStrings(append(slow.Ns, slow.Extra...)); !slices.Equal(a, b) {
			t.Errorf("authority+additional %v, general path %v", a, b)
		}
	})
}

func rrStrings(rrs []dns.RR) []string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = rr.String()
	}
	slices.Sort(out)
	return out
}

// FuzzHandler feeds arbitrary bytes to the query handler the way the
// server does (header check, unpack, ServeDNS over UDP and TCP) and checks
// it never panics and that UDP replies fit the client's size.
func FuzzHandler(f *testing.F) {
	s := fuzzServer(f)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	defer conn.Close()
	l := newUDPLoop(s, conn)
	from := net.UDPAddrFromAddrPort(deadAddr(f))
	addSeeds(f)

	f.Fuzz(func(t *testing.T, b []byte) {
		// The UDP loop's path (fast path, then the general one).
		if reply := l.handle(b, from, make([]byte, 0, ednsSize)); reply != nil {
			m, q := new(dns.Msg), new(dns.Msg)
			if err := m.Unpack(reply); err != nil {
				t.Fatalf("UDP reply does not parse: %v", err)
			}
			limit := dns.MinMsgSize
			if q.Unpack(b) == nil && q.IsEdns0() != nil {
				limit = max(limit, min(int(q.IsEdns0().UDPSize()), ednsSize))
			}
			if len(reply) > limit {
				t.Fatalf("UDP reply of %d bytes, limit %d", len(reply), limit)
			}
		}
		// dns.Server's path (TCP, wildcard UDP).
		if len(b) < 12 {
			return
		}
		if s.accept(wireHeader(b)) != dns.MsgAccept {
			return
		}
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil {
			return
		}
		for _, tcp := range []bool{false, true} {
			w := &fakeWriter{tcp: tcp}
			start := time.Now()
			s.ServeDNS(w, m)
			if time.Since(start) > 5*time.Second {
				t.Fatalf("query took %v", time.Since(start))
			}
			if w.packErr != nil {
				t.Fatalf("reply does not pack: %v", w.packErr)
			}
			if w.msg == nil {
				continue // dropped
			}
			limit := dns.MaxMsgSize
			if !tcp {
				limit = dns.MinMsgSize
				if opt := m.IsEdns0(); opt != nil {
					limit = max(limit, min(int(opt.UDPSize()), ednsSize))
				}
			}
			if w.n > limit {
				t.Fatalf("reply of %d bytes over %s, limit %d", w.n, map[bool]string{true: "TCP", false: "UDP"}[tcp], limit)
			}
			if len(w.msg.Question) > 1 {
				t.Fatalf("reply with %d questions", len(w.msg.Question))
			}
		}
	})
}
