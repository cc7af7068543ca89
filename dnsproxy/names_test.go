package dnsproxy

import (
	"context"
	"encoding/binary"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sluicehq/sluice/audit"
)

// wireQuery is a query packet built byte by byte (miekg/dns refuses to
// pack some of these names): one question of qtype, class IN, with the
// given labels, then extra bytes.
func wireQuery(qtype uint16, labels []string, extra ...byte) []byte {
	b := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, l := range labels {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	b = append(b, 0)
	b = append(b, extra...)
	b = binary.BigEndian.AppendUint16(b, qtype)
	return binary.BigEndian.AppendUint16(b, dns.ClassINET)
}

// exchangeRaw sends pkt over network and returns the reply, nil when
// there is none within a second (UDP drops what it cannot parse).
func exchangeRaw(t *testing.T, addr, network string, pkt []byte) *dns.Msg {
	t.Helper()
	conn, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if network == "tcp" {
		pkt = append(binary.BigEndian.AppendUint16(nil, uint16(len(pkt))), pkt...)
	}
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	n, err := conn.Read(buf)
	if err != nil {
		return nil
	}
	if network == "tcp" {
		buf, n = buf[2:], n-2
	}
	m := new(dns.Msg)
	if err := m.Unpack(buf[:n]); err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	return m
}

// How each spelling of a name is answered, over the UDP fast and general
// paths and over TCP, and what is recorded: the canonical name for a
// host name (the same record whichever path took the query), the name as
// sent with reason bad_request for the rest.
func TestQuestionNames(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	long253 := strings.Join([]string{label63, label63, label63, strings.Repeat("d", 61)}, ".")
	cases := []struct {
		name   string // presentation form, packed by miekg/dns
		wire   []byte // or these bytes
		rcode  int
		ips    []string // answer to A
		host   string   // recorded ("" none)
		reason string
		why    string // in the record's error
	}{
		{name: "STATIC.EXAMPLE.COM.", rcode: dns.RcodeSuccess, ips: []string{"10.1.0.1", "10.1.0.2"}},
		{name: "Xn--Bcher-Kva.Example.COM.", rcode: dns.RcodeSuccess, ips: []string{"10.6.0.1"}},
		{name: "Partner.Example.ORG.", rcode: dns.RcodeNameError, host: "partner.example.org", reason: "undeclared_destination"},
		{name: "XN--BCHER-KVA.example.org.", rcode: dns.RcodeNameError, host: "xn--bcher-kva.example.org", reason: "undeclared_destination"},
		{name: label63 + ".example.org.", rcode: dns.RcodeNameError, host: label63 + ".example.org", reason: "undeclared_destination"},
		{name: strings.ToUpper(long253) + ".", rcode: dns.RcodeNameError, host: long253, reason: "undeclared_destination"},
		{name: `static\.example.com.`, rcode: dns.RcodeNameError, host: `static\.example.com.`, reason: "bad_request", why: "escaped"},
		{name: `static.example.com\..`, rcode: dns.RcodeNameError, host: `static.example.com\..`, reason: "bad_request", why: "escaped"},
		{name: `a\000b.example.org.`, rcode: dns.RcodeNameError, host: `a\000b.example.org.`, reason: "bad_request", why: "escaped"},
		{name: "xn--a.example.org.", rcode: dns.RcodeNameError, host: "xn--a.example.org.", reason: "bad_request", why: "internationalised"},
		{name: "-a.example.org.", rcode: dns.RcodeNameError, host: "-a.example.org.", reason: "bad_request", why: "'-'"},
		{name: "static.example.123.", rcode: dns.RcodeNameError, host: "static.example.123.", reason: "bad_request", why: "number"},
		{name: "10.1.0.1.", rcode: dns.RcodeNameError, host: "10.1.0.1.", reason: "bad_request", why: "address"},
		{name: "0x7f.1.", rcode: dns.RcodeNameError, host: "0x7f.1.", reason: "bad_request", why: "address"},
		{name: "*.wild.example.com.", rcode: dns.RcodeNameError, host: "*.wild.example.com.", reason: "bad_request", why: "character"},
		{name: ".", rcode: dns.RcodeNameError, host: ".", reason: "bad_request", why: "root"},
		// "static.example.com.." as a naive encoder writes it (an empty
		// label, then the type): the question parses as static.example.com
		// of type 0 and class 256, which is refused, never answered.
		{wire: wireQuery(0, []string{"static", "example", "com"}, 0), rcode: dns.RcodeRefused},
		// A 64-byte label or a 254-byte name cannot be on the wire:
		// dropped over UDP, FORMERR over TCP, nothing recorded.
		{wire: wireQuery(dns.TypeA, []string{strings.Repeat("a", 64), "example", "org"}), rcode: -1},
		{wire: wireQuery(dns.TypeA, []string{label63, label63, label63, strings.Repeat("d", 62)}), rcode: -1},
	}
	reg, _ := newRegistry(t, testRegistryYAML()+se("idn", []string{"xn--bcher-kva.example.com"}, "STATIC", endpoints("10.6.0.1")))
	rec := &memRecorder{}
	clock := newTestClock()
	s := startServerAt(t, ServerOptions{Config: dnsConfig("endpoints"), Registry: reg, Recorder: rec}, clock)
	for _, c := range cases {
		// A window per case, so the per-source limit never folds them.
		clock.Advance(DefaultFoldWindow)
		for _, network := range []string{"udp", "tcp"} {
			pkt := c.wire
			if pkt == nil {
				var err error
				if pkt, err = new(dns.Msg).SetQuestion(c.name, dns.TypeA).Pack(); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
			}
			r := exchangeRaw(t, s.Addr(), network, pkt)
			switch {
			case c.rcode == -1 && network == "udp":
				if r != nil {
					t.Errorf("%q over UDP: reply %v, want none", pkt, r)
				}
			case c.rcode == -1:
				if r == nil || r.Rcode != dns.RcodeFormatError {
					t.Errorf("%q over TCP: reply %v, want FORMERR", pkt, r)
				}
			case r == nil:
				t.Errorf("%q over %s: no reply", c.name, network)
			default:
				got := answerIPs(r)
				slices.Sort(got)
				if r.Rcode != c.rcode || !slices.Equal(got, c.ips) {
					t.Errorf("%q over %s: %s %v, want %s %v", c.name, network, dns.RcodeToString[r.Rcode], got,
						dns.RcodeToString[c.rcode], c.ips)
				}
				if len(r.Question) != 1 || (c.wire == nil && r.Question[0].Name != c.name) {
					t.Errorf("%q over %s: question %v, want it as sent", c.name, network, r.Question)
				}
			}
		}
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	byHost := map[string][]audit.Record{}
	for _, r := range rec.records() {
		byHost[r.Host] = append(byHost[r.Host], r)
	}
	want := 0
	for _, c := range cases {
		if c.host == "" {
			continue
		}
		want++
		// One record of its own (the UDP query) and one counted repeat
		// (the TCP one): both paths recorded the same key.
		rs := byHost[c.host]
		if len(rs) != 2 {
			t.Errorf("%q: %d records under host %q, want 2: %+v", c.name, len(rs), c.host, rs)
			continue
		}
		for _, r := range rs {
			if r.Reason != c.reason || r.Method != "A" || r.Count > 1 || !r.Enforced || !strings.Contains(r.Error, c.why) {
				t.Errorf("%q: record %+v, want reason %s and %q in error", c.name, r, c.reason, c.why)
			}
		}
	}
	if len(byHost) != want {
		t.Errorf("records under %d hosts, want %d: %v", len(byHost), want, byHost)
	}
}

// In report mode undeclared names are forwarded, but a name that is not
// a host name is still refused, and its record says so (enforced).
func TestReportOnlyRefusesBadNames(t *testing.T) {
	up := testUpstream(t)
	reg, _ := newRegistry(t, testRegistryYAML())
	rec := &memRecorder{}
	s := startServer(t, ServerOptions{Config: dnsConfig("gateway", up.Addr), Registry: reg, Recorder: rec, ReportOnly: true})
	before := up.queries.Load()
	if r := query(t, s.Addr(), "udp", `api\.dns.example.`, dns.TypeA, 0); r.Rcode != dns.RcodeNameError {
		t.Fatalf("rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	if up.queries.Load() != before {
		t.Fatal("a bad name was forwarded")
	}
	waitFor(t, "the record", func() bool { return len(rec.records()) == 1 })
	if r := rec.records()[0]; r.Reason != "bad_request" || !r.Enforced || r.Host != `api\.dns.example.` {
		t.Fatalf("record %+v, want bad_request, enforced", r)
	}
}
