// Package netguard decides which IP addresses the gateway may dial or hand
// out in DNS answers (DESIGN section 6). Resolved answers must be public;
// addresses a ServiceEntry declares explicitly (STATIC endpoints,
// addresses) may be private, but never the gateway's own listeners.
package netguard

import (
	"fmt"
	"net/netip"
)

// forbidden lists the ranges an undeclared (resolved) address must not be
// in: loopback, RFC 1918, CGNAT, link-local (cloud metadata included),
// "this network", reserved, multicast, broadcast, documentation and
// benchmarking ranges, and their IPv6 counterparts.
var forbidden = mustPrefixes(
	"0.0.0.0/8",         // "this network"
	"10.0.0.0/8",        // RFC 1918
	"100.64.0.0/10",     // CGNAT (RFC 6598)
	"127.0.0.0/8",       // loopback
	"169.254.0.0/16",    // link-local, incl. 169.254.169.254 metadata
	"172.16.0.0/12",     // RFC 1918
	"192.0.0.0/24",      // IETF protocol assignments
	"192.0.2.0/24",      // TEST-NET-1
	"192.88.99.0/24",    // 6to4 relay anycast (deprecated)
	"192.168.0.0/16",    // RFC 1918
	"198.18.0.0/15",     // benchmarking
	"198.51.100.0/24",   // TEST-NET-2
	"203.0.113.0/24",    // TEST-NET-3
	"224.0.0.0/4",       // multicast
	"240.0.0.0/4",       // reserved, incl. 255.255.255.255 broadcast
	"::/128",            // unspecified
	"::1/128",           // loopback
	"64:ff9b:1::/48",    // local-use NAT64
	"100::/64",          // discard-only
	"2001:db8::/32",     // documentation
	"2001:2::/48",       // benchmarking (Istio auto-allocated VIPs)
	"fc00::/7",          // unique local
	"fe80::/10",         // link-local
	"fec0::/10",         // site-local (deprecated)
	"ff00::/8",          // multicast
	"fd00:ec2::254/128", // AWS IPv6 metadata (inside fc00::/7; named for clarity)
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Embedded reports the IPv4 address carried inside an IPv6 address in the
// IPv4-mapped, IPv4-compatible, NAT64 (64:ff9b::/96), 6to4 (2002::/16) or
// Teredo (2001::/32) forms, so that such an address is judged by the IPv4
// address it reaches.
func Embedded(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case ip.Is4In6():
		return ip.Unmap(), true
	case b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0 && b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] == 0 &&
		b[8] == 0 && b[9] == 0 && b[10] == 0 && b[11] == 0 && !(b[12] == 0 && b[13] == 0 && b[14] == 0):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true // IPv4-compatible ::a.b.c.d
	case b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && allZero(b[4:12]):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true // NAT64 well-known prefix
	case b[0] == 0x20 && b[1] == 0x02:
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true // 6to4
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0:
		// Teredo: the client IPv4 address is the last 32 bits, inverted.
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), true
	}
	return netip.Addr{}, false
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// IsForbidden reports whether a resolved (undeclared) address is refused,
// and the range that refuses it.
func IsForbidden(ip netip.Addr) (bool, string) {
	if !ip.IsValid() {
		return true, "invalid address"
	}
	ip = ip.WithZone("")
	if v4, ok := Embedded(ip); ok {
		if bad, why := IsForbidden(v4); bad {
			return true, fmt.Sprintf("%s (embedded in %s)", why, ip)
		}
		if ip.Is4In6() {
			return false, ""
		}
	}
	for _, p := range forbidden {
		if p.Contains(ip) {
			return true, p.String()
		}
	}
	return false, ""
}

// Guard checks dial targets. The zero value forbids the ranges above; Self
// adds the gateway's own listener addresses, refused even when declared so
// that the gateway can never be made to call itself.
type Guard struct {
	// Self holds the addresses the gateway listens on. An unspecified
	// listener IP (0.0.0.0, ::) matches any IP on that port.
	Self []netip.AddrPort
}

// ForbiddenError explains a refused address; the egress pipeline maps it
// to the reason code forbidden_address.
type ForbiddenError struct {
	Addr netip.AddrPort
	Why  string
}

// Error implements error.
func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("address %s is forbidden: %s", e.Addr, e.Why)
}

// Check returns a *ForbiddenError when ap may not be dialled. declared is
// true for addresses a ServiceEntry names explicitly.
func (g *Guard) Check(ap netip.AddrPort, declared bool) error {
	ip := ap.Addr().Unmap()
	if g != nil {
		for _, s := range g.Self {
			if s.Port() == ap.Port() && (s.Addr().Unmap() == ip || s.Addr().IsUnspecified()) {
				return &ForbiddenError{ap, "it is one of the gateway's own listeners"}
			}
		}
	}
	if declared {
		return nil
	}
	if bad, why := IsForbidden(ip); bad {
		return &ForbiddenError{ap, "resolved address in " + why + " (declare it as a STATIC endpoint or in addresses to allow it)"}
	}
	return nil
}

// CheckIP is Check without a port, for DNS answers: only the ranges apply.
func (g *Guard) CheckIP(ip netip.Addr) error {
	if bad, why := IsForbidden(ip.Unmap()); bad {
		return &ForbiddenError{netip.AddrPortFrom(ip, 0), "resolved address in " + why}
	}
	return nil
}
