package dnsproxy

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/canon"
)

// nameSeeds are question names canon refuses or rewrites: case, valid
// and invalid A-labels, '-' at a label's edge, numeric last labels and
// addresses, escapes, and the longest label and name.
func nameSeeds() []string {
	l63 := strings.Repeat("a", 63)
	return []string{
		"STATIC.EXAMPLE.COM.", "Partner.Example.ORG.", "xn--bcher-kva.example.com.", "XN--BCHER-KVA.EXAMPLE.COM.",
		"xn--bcher-kva.example.org.", "xn--a.example.org.", "xn--zz.static.example.com.", "xn--.example.org.", "xn--abc-.example.org.",
		"-a.example.org.", "a-.example.org.", "static.example.123.", "static.example.0x1f.", "10.1.0.1.", "0x7f.1.", "2130706433.",
		`static\.example.com.`, `static.example.com\..`, `a\000b.example.org.`, "*.wild.example.com.", "_sip._tcp.xn--bcher-kva.example.org.",
		l63 + ".example.org.", l63 + "." + l63 + "." + l63 + "." + strings.Repeat("d", 61) + ".",
		"ab--cd.wild.example.com.", "x_y.wild.example.com.",
	}
}

// unpackableSeeds are packets miekg/dns will not pack: a 64-byte label,
// a 254-byte name, an empty label (as a naive encoder writes
// "static.example.com..").
func unpackableSeeds() [][]byte {
	l63 := strings.Repeat("a", 63)
	return [][]byte{
		wireQuery(dns.TypeA, []string{strings.Repeat("a", 64), "example", "org"}),
		wireQuery(dns.TypeA, []string{l63, l63, l63, strings.Repeat("d", 62)}),
		wireQuery(dns.TypeA, []string{"static", "example", "com"}, 0),
	}
}

// resetDenied forgets every fold and queued record of s (not started).
func resetDenied(s *Server) {
	s.denied.folds.flush(time.Time{}, true)
	drainDenied(s)
}

// drainDenied takes the records queued on s (not started: nothing else
// reads the queue).
func drainDenied(s *Server) []*audit.Record {
	var out []*audit.Record
	for {
		select {
		case r := <-s.denied.queue:
			out = append(out, r)
		default:
			return out
		}
	}
}

// recordKeys are what identifies the records: host, reason, type,
// source, count and enforcement.
func recordKeys(rs []*audit.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = fmt.Sprintf("%s|%s|%s|%s|%d|%v", r.Host, r.Reason, r.Method, r.SourceIP, r.Count, r.Enforced)
	}
	return out
}

// FuzzDeniedHost checks, for any question name, that the record of a
// refused query names the host the registry was asked about: the
// canonical name (a fixed point of canon that the registry does not
// declare), or — for a name canon refuses — the name as sent, with
// reason bad_request; that declared names leave no record; and that the
// UDP loop (fast path or general) and the TCP path record the same.
func FuzzDeniedHost(f *testing.F) {
	s := fuzzServer(f)
	for _, n := range nameSeeds() {
		f.Add(n, dns.TypeA)
	}
	f.Add("evil.example.org.", dns.TypeMX)
	f.Add("static.example.com.", dns.TypeAAAA)
	l := &udpLoop{s: s}
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 40000}
	f.Fuzz(func(t *testing.T, name string, qtype uint16) {
		pkt, err := new(dns.Msg).SetQuestion(name, qtype).Pack()
		if err != nil {
			return
		}
		r := new(dns.Msg)
		if err := r.Unpack(pkt); err != nil || len(r.Question) != 1 {
			return
		}
		qname := r.Question[0].Name
		rt := s.route(r)
		if rt.kind == routeRefuse || rt.kind == routeForward || s.blocking(&rt) {
			return // no record, or an upstream to wait for
		}

		resetDenied(s)
		s.ServeDNS(&fakeWriter{tcp: true}, r)
		tcp := drainDenied(s)
		resetDenied(s)
		if l.handle(pkt, from, make([]byte, 0, ednsSize)) == nil {
			t.Fatalf("%q: no UDP reply", qname)
		}
		udp := drainDenied(s)
		if a, b := recordKeys(udp), recordKeys(tcp); !slices.Equal(a, b) {
			t.Fatalf("%q: UDP recorded %v, TCP %v", qname, a, b)
		}

		host, perr := canon.ParseDNSName(qname)
		switch rt.kind {
		case routeDeclared:
			if len(tcp) != 0 {
				t.Fatalf("%q is declared but recorded %v", qname, recordKeys(tcp))
			}
			return
		case routeBadName:
			if perr == nil || len(tcp) != 1 || tcp[0].Host != qname || tcp[0].Reason != "bad_request" || !tcp[0].Enforced {
				t.Fatalf("%q (refused: %v): records %v, want one bad_request under the name as sent", qname, perr, recordKeys(tcp))
			}
			return
		}
		if perr != nil || len(tcp) != 1 || tcp[0].Reason != "undeclared_destination" {
			t.Fatalf("%q (%v): records %v, want one undeclared_destination", qname, perr, recordKeys(tcp))
		}
		got := tcp[0].Host
		if got != host.String() || got != rt.name {
			t.Fatalf("%q: recorded host %q, canonical %q, route %q", qname, got, host, rt.name)
		}
		again, err := canon.ParseDNSName(got + ".")
		if err != nil || again != host {
			t.Fatalf("%q: recorded host %q is not canonical: %q, %v", qname, got, again, err)
		}
		if _, declared := s.opts.Registry.Snapshot().MatchHost(again); declared {
			t.Fatalf("%q: recorded host %q is declared", qname, got)
		}
		if src, _ := netip.ParseAddr(tcp[0].SourceIP); src != netip.MustParseAddr("127.0.0.2") {
			t.Fatalf("%q: source %q", qname, tcp[0].SourceIP)
		}
	})
}
