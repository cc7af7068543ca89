package dnsproxy

import (
	"encoding/binary"
	"net/netip"

	"github.com/miekg/dns"
	"github.com/sluicehq/sluice/internal/canon"
)

// fastAnswer answers the common UDP query straight from the wire, without
// building dns.Msg values: one question of class IN, a plain name
// (letters, digits, '-', '_') that canon accepts as a host name, at most
// an EDNS0 OPT, for a declared name whose answer needs no upstream, or an
// undeclared name (NXDOMAIN, recorded under its canonical name). The
// reply copies the question bytes (so the client's letter case is kept),
// and its records point at the question name. Everything else — names
// canon refuses, and any reply that would need truncation — returns
// ok=false and goes through the general path, which gives the same
// answers and records (FuzzFastPath checks both). buf is where the reply
// is built.
func (s *Server) fastAnswer(b []byte, src netip.Addr, buf []byte) (reply []byte, ok bool) {
	if len(b) < 17 || b[2]&0xF8 != 0 || // QR and opcode (QUERY)
		binary.BigEndian.Uint16(b[4:]) != 1 || binary.BigEndian.Uint16(b[6:]) != 0 ||
		binary.BigEndian.Uint16(b[8:]) != 0 || binary.BigEndian.Uint16(b[10:]) > 1 {
		return nil, false
	}
	// The name in presentation form, as sent: with only these bytes it
	// is q.Name of the general path without the trailing dot, so canon
	// parses the same text on both paths (case folding and IDNA
	// included) and the two cannot disagree on the host.
	var nb [256]byte
	n, off := 0, 12
	for {
		if off >= len(b) {
			return nil, false
		}
		l := int(b[off])
		off++
		if l == 0 {
			break
		}
		if l > 63 || off+l > len(b) || n+l+1 > len(nb) {
			return nil, false
		}
		if n > 0 {
			nb[n] = '.'
			n++
		}
		for _, c := range b[off : off+l] {
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			default:
				return nil, false
			}
			nb[n] = c
			n++
		}
		off += l
	}
	if n == 0 || off+4 > len(b) {
		return nil, false
	}
	qtype := binary.BigEndian.Uint16(b[off:])
	if binary.BigEndian.Uint16(b[off+2:]) != dns.ClassINET || qtype == dns.TypeAXFR || qtype == dns.TypeIXFR {
		return nil, false
	}
	qend := off + 4

	// EDNS0: exactly one OPT record, version 0, well-formed options.
	edns, do, size := false, false, dns.MinMsgSize
	if b[11] == 1 {
		o := qend
		if o+11 > len(b) || b[o] != 0 || binary.BigEndian.Uint16(b[o+1:]) != dns.TypeOPT || b[o+6] != 0 {
			return nil, false
		}
		edns, do = true, b[o+7]&0x80 != 0
		size = udpLimit(binary.BigEndian.Uint16(b[o+3:]))
		rdlen := int(binary.BigEndian.Uint16(b[o+9:]))
		end := o + 11 + rdlen
		if end != len(b) {
			return nil, false
		}
		for p := o + 11; p < end; {
			if p+4 > end {
				return nil, false
			}
			// miekg/dns checks the data of most options (LLQ, SUBNET, …)
			// and the general path drops a packet whose data is wrong;
			// only a cookie and padding take any bytes. Anything else
			// goes the general way, so both paths treat it alike.
			if code := binary.BigEndian.Uint16(b[p:]); code != dns.EDNS0COOKIE && code != dns.EDNS0PADDING {
				return nil, false
			}
			p += 4 + int(binary.BigEndian.Uint16(b[p+2:]))
			if p > end {
				return nil, false
			}
		}
	} else if qend != len(b) {
		return nil, false
	}

	// ParseHost of these bytes is ParseDNSName of the general path's
	// q.Name (no escapes, no brackets or colons, the dot not doubled).
	host, err := canon.ParseHost(string(nb[:n]))
	if err != nil || host.IsIP() {
		return nil, false // the general path refuses it and records why
	}
	name := host.String()
	var (
		addrs   []netip.Addr
		ttl     uint32
		scratch [8]netip.Addr
		res     result
		aa      bool
		rcode   byte
	)
	if hm, declared := s.opts.Registry.Snapshot().MatchHost(host); declared {
		aa, res = true, resultNoData
		if qtype == dns.TypeA || qtype == dns.TypeAAAA {
			if s.resolves(qtype, hm) {
				return nil, false
			}
			addrs, ttl, _ = s.addresses(hm, name, qtype, scratch[:0])
			if len(addrs) > 0 {
				res = resultAnswered
			}
		}
	} else {
		if s.inForwardZone(name) || s.opts.ReportOnly {
			return nil, false
		}
		rcode, res = dns.RcodeNameError, resultNXDomain
	}
	rrLen := 16
	if qtype == dns.TypeAAAA {
		rrLen = 28
	}
	total := qend + len(addrs)*rrLen
	if edns {
		total += 11
	}
	if total > size {
		return nil, false // needs truncation: the general path does it
	}

	reply = append(buf[:0], b[:qend]...) // ID and question from the query
	reply[2] = 0x80 | b[2]&0x01          // QR, opcode QUERY, RD copied
	if aa {
		reply[2] |= 0x04
	}
	reply[3] = 0x80 | b[3]&0x10 | rcode // RA, CD copied
	binary.BigEndian.PutUint16(reply[6:], uint16(len(addrs)))
	reply[8], reply[9], reply[10], reply[11] = 0, 0, 0, 0
	if edns {
		reply[11] = 1
	}
	if len(addrs) > 0 {
		k := int(s.rr.Add(1) % uint32(len(addrs)))
		for i := range addrs {
			ip := addrs[(k+i)%len(addrs)]
			reply = append(reply, 0xC0, 12) // the question name
			reply = binary.BigEndian.AppendUint16(reply, qtype)
			reply = binary.BigEndian.AppendUint16(reply, dns.ClassINET)
			reply = binary.BigEndian.AppendUint32(reply, ttl)
			if qtype == dns.TypeA {
				a := ip.As4()
				reply = append(reply, 0, 4)
				reply = append(reply, a[:]...)
			} else {
				a := ip.As16()
				reply = append(reply, 0, 16)
				reply = append(reply, a[:]...)
			}
		}
	}
	if edns {
		var flags byte
		if do {
			flags = 0x80
		}
		reply = append(reply, 0, 0, byte(dns.TypeOPT), byte(ednsSize>>8), byte(ednsSize&0xFF), 0, 0, flags, 0, 0, 0)
	}
	if rcode == dns.RcodeNameError {
		s.denied.deny(src, name, qtype)
	}
	s.metrics.count(res)
	return reply, true
}
