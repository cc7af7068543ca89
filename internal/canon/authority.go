package canon

import (
	"strconv"
	"strings"
)

// ParseAuthority parses "host[:port]" — a request URI's authority, a Host
// header or a CONNECT target — into a canonical host and a port; def is
// the port when none is given. IPv6 literals must be in brackets. The
// port is decimal, 1–65535, without a sign or leading spaces.
func ParseAuthority(authority string, def int) (Host, int, error) {
	if authority == "" {
		return Host{}, 0, refuse(authority, "empty authority")
	}
	hostPart, portPart, hasPort := authority, "", false
	if authority[0] == '[' {
		end := strings.IndexByte(authority, ']')
		if end < 0 {
			return Host{}, 0, refuse(authority, "unbalanced brackets")
		}
		hostPart = authority[:end+1]
		switch rest := authority[end+1:]; {
		case rest == "":
		case rest[0] == ':':
			portPart, hasPort = rest[1:], true
		default:
			return Host{}, 0, refuse(authority, "unexpected text after ']'")
		}
	} else if i := strings.LastIndexByte(authority, ':'); i >= 0 {
		if strings.IndexByte(authority[:i], ':') >= 0 {
			return Host{}, 0, refuse(authority, "IPv6 literals must be in brackets")
		}
		hostPart, portPart, hasPort = authority[:i], authority[i+1:], true
	}
	port := def
	if hasPort {
		p, ok := parsePort(portPart)
		if !ok {
			return Host{}, 0, refuse(authority, "invalid port "+quote(portPart))
		}
		port = p
	}
	h, err := ParseHost(hostPart)
	if err != nil {
		return Host{}, 0, err
	}
	return h, port, nil
}

// parsePort accepts 1–65535 in plain decimal.
func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, false
	}
	return p, true
}

// ParseSNI parses a TLS ClientHello's server_name. RFC 6066 makes it a
// DNS host name: no port, no IP literal, no trailing dot. An empty SNI is
// the zero Host without an error (the caller decides whether it may be
// absent).
func ParseSNI(sni string) (Host, error) {
	if sni == "" {
		return Host{}, nil
	}
	if strings.HasSuffix(sni, ".") {
		return Host{}, refuse(sni, "an SNI has no trailing dot (RFC 6066)")
	}
	if strings.IndexByte(sni, ':') >= 0 || strings.IndexByte(sni, '[') >= 0 {
		return Host{}, refuse(sni, "an SNI is a host name, without a port or an IP literal (RFC 6066)")
	}
	h, err := ParseHost(sni)
	if err != nil {
		return Host{}, err
	}
	if h.IsIP() {
		return Host{}, refuse(sni, "an SNI may not be an IP address (RFC 6066)")
	}
	return h, nil
}

// ParseDNSName parses a DNS question name in presentation form (as
// miekg/dns gives it: a trailing dot, escapes for unusual bytes). Names
// with escapes — a dot or a byte outside host-name characters inside a
// label — are refused, so `a\.b.example.` can never be read as
// `a.b.example`.
func ParseDNSName(qname string) (Host, error) {
	if strings.IndexByte(qname, '\\') >= 0 {
		return Host{}, refuse(qname, "escaped characters are not allowed in a host name")
	}
	if qname == "." || qname == "" {
		return Host{}, refuse(qname, "the root is not a destination")
	}
	h, err := parseName(qname)
	if err != nil {
		return Host{}, err
	}
	if h.IsIP() {
		// A question for "127.0.0.1." names no host; answer it as undeclared.
		return Host{}, refuse(qname, "an address is not a DNS name")
	}
	return h, nil
}
