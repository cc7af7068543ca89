package dnsproxy

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
	"github.com/sluicehq/sluice/internal/canon"
	"github.com/sluicehq/sluice/registry"
)

// routeKind is how a query will be answered.
type routeKind uint8

const (
	routeRefuse     routeKind = iota // REFUSED, NOTIMP, FORMERR or BADVERS (rcode in route)
	routeDeclared                    // the registry declares the name
	routeForward                     // a forward zone: relay to the upstreams
	routeUndeclared                  // NXDOMAIN (or forwarded in report mode), audited
	routeBadName                     // not a host name: NXDOMAIN, audited as bad_request
)

// route is the decision for one query, taken without any I/O.
type route struct {
	kind  routeKind
	rcode int
	res   result // for routeRefuse
	q     dns.Question
	name  string // canonical (package canon); the raw question name for routeBadName
	hm    registry.HostMatch
	bad   error // why canon refused the name (routeBadName)
}

// route decides how r is answered.
func (s *Server) route(r *dns.Msg) route {
	switch {
	case r.Opcode != dns.OpcodeQuery:
		return route{kind: routeRefuse, rcode: dns.RcodeNotImplemented, res: resultRefused}
	case len(r.Question) == 0:
		return route{kind: routeRefuse, rcode: dns.RcodeFormatError, res: resultMalformed}
	}
	if opt := r.IsEdns0(); opt != nil && opt.Version() != 0 {
		// RFC 6891 6.1.3; send adds our OPT (version 0).
		return route{kind: routeRefuse, rcode: dns.RcodeBadVers, res: resultRefused}
	}
	q := r.Question[0]
	if q.Qclass != dns.ClassINET || q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		return route{kind: routeRefuse, rcode: dns.RcodeRefused, res: resultRefused}
	}
	host, err := canon.ParseDNSName(q.Name)
	if err != nil {
		return route{kind: routeBadName, q: q, name: q.Name, bad: err}
	}
	name := host.String()
	if hm, ok := s.opts.Registry.Snapshot().MatchHost(host); ok {
		return route{kind: routeDeclared, q: q, name: name, hm: hm}
	}
	if s.inForwardZone(name) {
		return route{kind: routeForward, q: q, name: name}
	}
	return route{kind: routeUndeclared, q: q, name: name}
}

// blocking reports whether answering rt may wait on an upstream.
func (s *Server) blocking(rt *route) bool {
	switch rt.kind {
	case routeForward:
		return true
	case routeUndeclared:
		return s.opts.ReportOnly
	case routeDeclared:
		return s.resolves(rt.q.Qtype, rt.hm)
	}
	return false
}

// resolves reports whether answering qtype for a declared name asks the
// Resolver (A and AAAA in endpoints mode, for some entries).
func (s *Server) resolves(qtype uint16, hm registry.HostMatch) bool {
	if !s.endpoints || (qtype != dns.TypeA && qtype != dns.TypeAAAA) {
		return false
	}
	for _, e := range hm.Entries {
		if needsResolver(e) {
			return true
		}
	}
	return false
}

// ServeDNS answers one query; it implements dns.Handler (the TCP listener,
// and UDP on a wildcard address). At most dns.max_inflight queries are
// handled at once: beyond that UDP queries are dropped (the client
// retries) and TCP queries get REFUSED.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	tcp := isTCP(w.RemoteAddr())
	if !s.acquire() {
		s.overloaded(w, r, tcp)
		return
	}
	defer s.release()
	rt := s.route(r)
	s.answer(w, r, &rt, tcp, remoteIP(w.RemoteAddr()))
}

// acquire takes one of the max_inflight slots.
func (s *Server) acquire() bool {
	if s.inflight.Add(1) > s.maxInflight {
		s.inflight.Add(-1)
		return false
	}
	return true
}

func (s *Server) release() { s.inflight.Add(-1) }

// overloaded answers a query that found every slot taken.
func (s *Server) overloaded(w dns.ResponseWriter, r *dns.Msg, tcp bool) {
	if !tcp {
		s.metrics.count(resultDropped)
		return
	}
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeRefused)
	s.send(w, r, m, tcp)
	s.metrics.count(resultRefused)
}

// answer builds the reply for rt, writes it and counts it.
func (s *Server) answer(w dns.ResponseWriter, r *dns.Msg, rt *route, tcp bool, src netip.Addr) {
	m, res := s.respond(r, rt, src)
	s.send(w, r, m, tcp)
	s.metrics.count(res)
}

// respond builds the reply to r along rt.
func (s *Server) respond(r *dns.Msg, rt *route, src netip.Addr) (*dns.Msg, result) {
	m := reply(r)
	switch rt.kind {
	case routeDeclared:
		return s.declared(m, rt.q, rt.name, rt.hm)
	case routeForward:
		return s.forward(r, m)
	case routeUndeclared:
		s.denied.deny(src, rt.name, rt.q.Qtype)
		if s.opts.ReportOnly {
			return s.forward(r, m)
		}
		m.Rcode = dns.RcodeNameError
		return m, resultNXDomain
	case routeBadName:
		s.denied.badName(src, rt.name, rt.q.Qtype, rt.bad)
		m.Rcode = dns.RcodeNameError
		return m, resultNXDomain
	}
	m.Rcode = rt.rcode
	return m, rt.res
}

// declared answers for a name the registry declares: authoritative, TTL
// dns.ttl, owner name the queried name (wildcards too), A/AAAA only;
// every other type, and a family with no address, get NOERROR with an
// empty answer, never NXDOMAIN.
func (s *Server) declared(m *dns.Msg, q dns.Question, name string, hm registry.HostMatch) (*dns.Msg, result) {
	m.Authoritative = true
	if q.Qtype != dns.TypeA && q.Qtype != dns.TypeAAAA {
		return m, resultNoData
	}
	var scratch [8]netip.Addr
	addrs, ttl, err := s.addresses(hm, name, q.Qtype, scratch[:0])
	if len(addrs) == 0 {
		if err != nil {
			m.Authoritative = false
			m.Rcode = dns.RcodeServerFailure
			return m, resultServFail
		}
		return m, resultNoData
	}
	n := len(addrs)
	k := int(s.rr.Add(1) % uint32(n))
	m.Answer = make([]dns.RR, n)
	hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: ttl}
	if q.Qtype == dns.TypeA {
		recs := make([]aRecord, n) // one allocation for the records and their addresses
		for i := range recs {
			rec := &recs[i]
			rec.ip = addrs[(k+i)%n].As4()
			rec.rr = dns.A{Hdr: hdr, A: rec.ip[:]}
			m.Answer[i] = &rec.rr
		}
	} else {
		recs := make([]aaaaRecord, n)
		for i := range recs {
			rec := &recs[i]
			rec.ip = addrs[(k+i)%n].As16()
			rec.rr = dns.AAAA{Hdr: hdr, AAAA: rec.ip[:]}
			m.Answer[i] = &rec.rr
		}
	}
	return m, resultAnswered
}

// aRecord and aaaaRecord hold a record and the bytes of its address.
type aRecord struct {
	rr dns.A
	ip [4]byte
}

type aaaaRecord struct {
	rr dns.AAAA
	ip [16]byte
}

// reply starts the reply to r: same ID, opcode, RD and CD bits, the first
// question (shared with r, not copied), RA set.
func reply(r *dns.Msg) *dns.Msg {
	m := &dns.Msg{MsgHdr: dns.MsgHdr{Id: r.Id, Response: true, Opcode: r.Opcode, RecursionAvailable: true}}
	if r.Opcode == dns.OpcodeQuery {
		m.RecursionDesired, m.CheckingDisabled = r.RecursionDesired, r.CheckingDisabled
	}
	if len(r.Question) > 0 {
		m.Question = r.Question[:1:1]
	}
	return m
}

// inForwardZone reports whether name is one of dns.forward_zones or under one.
func (s *Server) inForwardZone(name string) bool {
	for _, z := range s.zones {
		if name == z || (len(name) > len(z) && name[len(name)-len(z)-1] == '.' && strings.HasSuffix(name, z)) {
			return true
		}
	}
	return false
}

// forward relays r (its first question) to the upstreams; SERVFAIL when
// every upstream fails.
func (s *Server) forward(r, m *dns.Msg) (*dns.Msg, result) {
	q := *r
	q.Question = r.Question[:1]
	resp, err := s.resolver.forward(s.ctx, &q)
	if err != nil {
		if s.log.Enabled(context.Background(), slog.LevelDebug) {
			s.log.Debug("dns: forwarding failed", "name", r.Question[0].Name, "err", err)
		}
		m.Rcode = dns.RcodeServerFailure
		return m, resultServFail
	}
	resp.Id = r.Id
	return resp, resultForwarded
}

// send writes m, fitted to the client's transport: over UDP the size is
// the client's EDNS0 payload size (512 without EDNS0, at most 1232), and
// records that do not fit are dropped with TC set so the client retries
// over TCP; over TCP the limit is 64 KiB.
func (s *Server) send(w dns.ResponseWriter, r, m *dns.Msg, tcp bool) {
	size := dns.MinMsgSize
	if opt := r.IsEdns0(); opt != nil {
		if m.IsEdns0() == nil {
			m.SetEdns0(ednsSize, opt.Do())
		}
		size = udpLimit(opt.UDPSize())
	}
	if tcp {
		size = dns.MaxMsgSize
	}
	m.Truncate(size)
	if err := w.WriteMsg(m); err != nil && s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("dns: writing a reply failed", "client", w.RemoteAddr(), "err", err)
	}
}

// udpLimit is the UDP reply size for a client advertising an EDNS0
// payload size: at least 512, at most ednsSize.
func udpLimit(advertised uint16) int {
	return min(max(int(advertised), dns.MinMsgSize), ednsSize)
}

// accept is the server's MsgAcceptFunc: anything that is not a plausible
// query is dropped without a reply (a reply could be used to reflect
// traffic); other opcodes get NOTIMP.
func (s *Server) accept(dh dns.Header) dns.MsgAcceptAction {
	const qr = 1 << 15
	switch {
	case dh.Bits&qr != 0, dh.Qdcount == 0, dh.Ancount > 0, dh.Nscount > 0, dh.Arcount > 2:
		s.metrics.count(resultMalformed)
		return dns.MsgIgnore
	case int(dh.Bits>>11)&0xF != dns.OpcodeQuery:
		s.metrics.count(resultRefused)
		return dns.MsgRejectNotImplemented
	}
	return dns.MsgAccept
}

// invalid is the server's MsgInvalidFunc: short or unparseable packets.
// (On TCP and wildcard UDP the library answers a packet whose header
// parsed but whose body did not with FORMERR, no larger than the query.)
func (s *Server) invalid([]byte, error) { s.metrics.count(resultMalformed) }

func isTCP(a net.Addr) bool {
	_, ok := a.(*net.TCPAddr)
	return ok
}

func remoteIP(a net.Addr) netip.Addr {
	switch v := a.(type) {
	case *net.UDPAddr:
		return v.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		return v.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
