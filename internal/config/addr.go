package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ParsePrefix parses a CIDR, accepting a bare IP as a /32 or /128.
func ParsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, errors.New("invalid CIDR " + fmt.Sprintf("%q", s))
}

// ParseHostPort parses "ip" or "ip:port" (IPv6 in brackets with a port),
// using def when no port is given.
func ParseHostPort(s string, def uint16) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return netip.AddrPortFrom(a, def), nil
	}
	return netip.AddrPort{}, fmt.Errorf("invalid address %q: want ip or ip:port", s)
}

// isLoopbackAddr reports whether a listener address "host:port" binds
// loopback only (localhost or a loopback IP).
func isLoopbackAddr(hostport string) bool {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}
