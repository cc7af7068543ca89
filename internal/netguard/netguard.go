// Package netguard decides which IP addresses the gateway may dial or hand
// out in DNS answers (docs/contract.md §6). Resolved answers must be public;
// addresses a ServiceEntry declares explicitly (STATIC endpoints,
// addresses) may be private, but never the gateway's own listeners.
package netguard

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"
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

// Guard checks dial targets. The zero value (and nil) forbids the ranges
// above; NewGuard adds the gateway itself, refused even when declared so
// that the gateway can never be made to call itself.
//
// "Itself" is every address that reaches one of its listening ports: the
// unspecified addresses (0.0.0.0 and :: connect to the local host), the
// loopback ranges, every address of a local interface, and — when a
// listener is bound to a wildcard address — any address on that port
// (a VIP or NAT in front of the gateway leads back to it too). Resolved
// addresses are also refused when they are a local interface address, on
// any port: a DNS answer naming the gateway's own host is never a
// destination.
type Guard struct {
	ports    map[uint16]bool // ports the gateway listens on
	wildcard map[uint16]bool // ...of those, the ones bound to 0.0.0.0 or ::
	local    atomic.Pointer[map[netip.Addr]bool]
	ifaddrs  func() ([]net.Addr, error)
}

// NewGuard builds the guard for a gateway listening on listeners
// ("host:port"; "" entries are skipped) and reads the local interface
// addresses once. Refresh (or Watch) keeps them current.
func NewGuard(listeners []string) (*Guard, error) {
	g := &Guard{ports: map[uint16]bool{}, wildcard: map[uint16]bool{}, ifaddrs: net.InterfaceAddrs}
	for _, l := range listeners {
		if l == "" {
			continue
		}
		host, port, err := net.SplitHostPort(l)
		if err != nil {
			return nil, fmt.Errorf("netguard: listener %q: %w", l, err)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("netguard: listener %q: bad port", l)
		}
		g.ports[uint16(p)] = true
		if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
			g.wildcard[uint16(p)] = true
		}
	}
	if err := g.Refresh(); err != nil {
		return nil, err
	}
	return g, nil
}

// Refresh re-reads the addresses of the local interfaces.
func (g *Guard) Refresh() error {
	addrs, err := g.ifaddrs()
	if err != nil {
		return fmt.Errorf("netguard: reading interface addresses: %w", err)
	}
	m := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			m[p.Addr().Unmap().WithZone("")] = true
		} else if ip, err := netip.ParseAddr(a.String()); err == nil {
			m[ip.Unmap().WithZone("")] = true
		}
	}
	g.local.Store(&m)
	return nil
}

// Watch refreshes the interface addresses every interval until ctx ends
// (interfaces come and go: a new pod IP, a VPN).
func (g *Guard) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = g.Refresh()
		}
	}
}

// isLocal reports whether ip reaches this host: unspecified, loopback, or
// an interface address.
func (g *Guard) isLocal(ip netip.Addr) bool {
	if ip.IsUnspecified() || ip.IsLoopback() {
		return true
	}
	if m := g.local.Load(); m != nil {
		return (*m)[ip]
	}
	return false
}

// isSelf reports whether ap reaches one of the gateway's listeners.
func (g *Guard) isSelf(ap netip.AddrPort) bool {
	if g == nil || !g.ports[ap.Port()] {
		return false
	}
	return g.wildcard[ap.Port()] || g.isLocal(ap.Addr())
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
	ip := ap.Addr().Unmap().WithZone("")
	self := netip.AddrPortFrom(ip, ap.Port())
	if v4, ok := Embedded(ip); ok {
		self = netip.AddrPortFrom(v4, ap.Port()) // judged by the IPv4 address it carries
	}
	if g.isSelf(self) {
		return &ForbiddenError{ap, "it is one of the gateway's own listeners"}
	}
	if declared {
		return nil
	}
	return g.CheckIP(ip)
}

// CheckIP is Check without a port, for resolved addresses and DNS
// answers: the ranges above and the local host's own addresses.
func (g *Guard) CheckIP(ip netip.Addr) error {
	ip = ip.Unmap().WithZone("")
	if bad, why := IsForbidden(ip); bad {
		return &ForbiddenError{netip.AddrPortFrom(ip, 0), "resolved address in " + why + " (declare it as a STATIC endpoint or in addresses to allow it)"}
	}
	if g != nil && g.isLocal(ip) {
		return &ForbiddenError{netip.AddrPortFrom(ip, 0), "resolved address is one of the gateway host's own addresses"}
	}
	return nil
}
