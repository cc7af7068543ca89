package egress

import (
	"net"
	"net/netip"
	"strconv"

	"github.com/sluicehq/sluice/internal/canon"
)

func itoa(n int) string { return strconv.Itoa(n) }

// hostPort is host:port with IPv6 literals in brackets.
func hostPort(host canon.Host, port int) string { return host.Bracketed() + ":" + strconv.Itoa(port) }

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
