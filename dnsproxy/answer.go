package dnsproxy

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/sluicehq/sluice/registry"
)

// addresses lists (appending to scratch) what a declared name answers for one family (qtype A or
// AAAA) and the TTL in seconds. In gateway mode that is
// dns.gateway_addresses. In endpoints mode, for each ServiceEntry that
// declares the matched pattern:
//
//   - plain-IP addresses (CIDRs skipped) when it has any — the addresses
//     Istio's DNS proxy hands out, and the ones an IP-literal call is
//     declared by;
//   - STATIC: the endpoint IPs;
//   - DNS, DNS_ROUND_ROBIN: IP endpoints as they are, named endpoints (or
//     the queried name when there are none) through the Resolver;
//   - NONE (wildcards) and DYNAMIC_DNS: the queried name through the
//     Resolver.
//
// Resolved addresses pass the forbidden-address check (forbidden ones are
// left out) and shorten the TTL to what remains of theirs. The error is
// non-nil when an upstream failed; the caller answers SERVFAIL only when
// nothing else was found.
func (s *Server) addresses(hm registry.HostMatch, name string, qtype uint16, scratch []netip.Addr) ([]netip.Addr, uint32, error) {
	if !s.endpoints {
		if qtype == dns.TypeA {
			return s.gw4, ttlSeconds(s.ttl), nil
		}
		return s.gw6, ttlSeconds(s.ttl), nil
	}
	out := scratch[:0]
	lk := lookups{s: s, name: name, qtype: qtype, ttl: s.ttl}
	defer lk.done()
	for _, e := range hm.Entries {
		found := false
		for _, a := range e.Addresses {
			if ip, ok := plainIP(a); ok {
				found = true
				out = appendAddr(out, ip, qtype)
			}
		}
		if found {
			continue
		}
		switch e.Resolution {
		case registry.ResolutionStatic:
			for _, ep := range e.Endpoints {
				if ep.IP.IsValid() {
					out = appendAddr(out, ep.IP, qtype)
				}
			}
		case registry.ResolutionDNS, registry.ResolutionDNSRoundRobin:
			if len(e.Endpoints) == 0 {
				out = lk.resolve(out, name)
				continue
			}
			for _, ep := range e.Endpoints {
				switch {
				case ep.IP.IsValid():
					out = appendAddr(out, ep.IP, qtype)
				case strings.HasPrefix(ep.Address, "unix://"):
				default:
					out = lk.resolve(out, ep.Address)
				}
			}
		default: // NONE, DYNAMIC_DNS
			out = lk.resolve(out, name)
		}
	}
	return out, ttlSeconds(lk.ttl), lk.upErr
}

// appendAddr appends ip when it is of qtype's family and not there yet.
func appendAddr(out []netip.Addr, ip netip.Addr, qtype uint16) []netip.Addr {
	ip = ip.Unmap()
	if ip.Is4() != (qtype == dns.TypeA) || slices.Contains(out, ip) {
		return out
	}
	return append(out, ip)
}

// lookups runs the Resolver lookups of one addresses() call: one deadline
// for all, the smallest TTL, the last upstream failure.
type lookups struct {
	s      *Server
	name   string
	qtype  uint16
	ttl    time.Duration
	upErr  error
	ctx    context.Context
	cancel context.CancelFunc
}

func (lk *lookups) done() {
	if lk.cancel != nil {
		lk.cancel()
	}
}

// resolve appends the permitted addresses of host from the Resolver.
func (lk *lookups) resolve(out []netip.Addr, host string) []netip.Addr {
	fq, err := fqdn(host)
	if err != nil {
		return out
	}
	if lk.ctx == nil {
		lk.ctx, lk.cancel = context.WithTimeout(lk.s.ctx, lk.s.resolver.ups.budget())
	}
	ips, t, err := lk.s.resolver.lookupFamily(lk.ctx, fq, lk.qtype)
	if err != nil {
		if errors.Is(err, ErrUpstream) {
			lk.upErr = err
		}
		if lk.s.log.Enabled(lk.ctx, slog.LevelDebug) {
			lk.s.log.Debug("dns: declared name without resolved addresses", "name", lk.name, "resolve", host,
				"type", dns.TypeToString[lk.qtype], "err", err)
		}
		return out
	}
	lk.ttl = min(lk.ttl, t)
	for _, ip := range ips {
		out = appendAddr(out, ip, lk.qtype)
	}
	return out
}

// plainIP parses a ServiceEntry address that is one IP (a single-address
// prefix counts; wider CIDRs do not): what Istio's DNS proxy hands out.
func plainIP(a string) (netip.Addr, bool) {
	if ip, err := netip.ParseAddr(a); err == nil {
		return ip, true
	}
	if p, err := netip.ParsePrefix(a); err == nil && p.IsSingleIP() {
		return p.Addr(), true
	}
	return netip.Addr{}, false
}

// ttlSeconds rounds d up to whole seconds.
func ttlSeconds(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	return uint32((d + time.Second - 1) / time.Second)
}

// needsResolver reports whether answering for e in endpoints mode asks the
// Resolver (which may wait on an upstream).
func needsResolver(e *registry.Entry) bool {
	for _, a := range e.Addresses {
		if _, ok := plainIP(a); ok {
			return false
		}
	}
	switch e.Resolution {
	case registry.ResolutionStatic:
		return false
	case registry.ResolutionDNS, registry.ResolutionDNSRoundRobin:
		if len(e.Endpoints) == 0 {
			return true
		}
		for _, ep := range e.Endpoints {
			if !ep.IP.IsValid() && !strings.HasPrefix(ep.Address, "unix://") {
				return true
			}
		}
		return false
	}
	return true
}
