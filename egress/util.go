package egress

import (
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/registry"
)

func itoa(n int) string { return strconv.Itoa(n) }

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// splitHostPort splits an authority into a normalised host and a port,
// using def when the authority has none. IPv6 literals lose their
// brackets; names are lower-cased without a trailing dot.
func splitHostPort(authority string, def int) (string, int, bool) {
	host, portStr, err := net.SplitHostPort(authority)
	port := def
	if err != nil {
		// No port (or a bare IPv6 literal).
		host = strings.TrimSuffix(strings.TrimPrefix(authority, "["), "]")
	} else {
		p, err := strconv.Atoi(portStr)
		if err != nil || p < 1 || p > 65535 {
			return "", 0, false
		}
		port = p
	}
	if host == "" {
		return "", 0, false
	}
	if ip, ok := registry.ParseIPLiteral(host); ok {
		return ip.String(), port, true
	}
	if !validHostname(host) {
		return "", 0, false
	}
	return registry.NormalizeHost(host), port, true
}

// validHostname accepts names made of letters, digits, '-', '_' and '.'.
func validHostname(h string) bool {
	if len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// addrOf parses a net.Addr into a netip.Addr (unmapped).
func addrOf(a net.Addr) netip.Addr {
	if a == nil {
		return netip.Addr{}
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
