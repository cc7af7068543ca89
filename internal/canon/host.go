// Package canon turns untrusted destination names — a request's URI
// authority, a Host header, a CONNECT authority, a TLS SNI, a DNS question
// — into the one canonical Host that every later stage uses: the registry
// match, the policy input, the SNI check, the dial, the record, metrics
// and spans (docs/contract.md, "One canonical destination").
//
// Parsing happens once, at the edge. Nothing after the edge re-normalises
// a host, so no two stages can disagree about which destination a call
// is for: `partner.test..` is refused here, never matched as
// `partner.test` by one stage and seen as `partner.test.` by another.
//
// The rules:
//   - names are lower-case ASCII: Unicode names and A-labels (`xn--`) go
//     through IDNA (UTS #46, non-transitional, the browsers' profile) once,
//     and an invalid A-label is refused;
//   - one trailing dot is removed; an empty label anywhere else (`a..b`,
//     `.a`, `a..`) is refused;
//   - labels hold letters, digits, '-' and '_', at most 63 bytes, and do
//     not start or end with '-'; a name is at most 253 bytes;
//   - a name whose last label is a number is an IPv4 address in one of the
//     forms `inet_aton` and the WHATWG URL standard accept (`127.1`,
//     `0x7f.0.0.1`, `017700000001`, `2130706433`) and becomes that address,
//     or is refused;
//   - IP literals are netip's canonical form: IPv4-mapped IPv6 is unmapped,
//     IPv6 is compressed and lower case, and zones are refused.
package canon

import (
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// MaxNameLen is the longest name accepted, without its trailing dot
// (RFC 1035: 255 octets on the wire).
const MaxNameLen = 253

// maxLabelLen is the longest label (RFC 1035).
const maxLabelLen = 63

// Host is a canonical destination host: a lower-case ASCII DNS name
// without a trailing dot, or an IP address. The zero Host is "no host".
// A Host can only be made by this package's parsers, so holding one means
// the input was checked.
type Host struct {
	name string     // the name, or the address's string form
	ip   netip.Addr // valid for IP literals
}

// String is the canonical text: the name, or the address without
// brackets. It is what policy sees, what the registry matches and what is
// recorded.
func (h Host) String() string { return h.name }

// IsZero reports whether h holds no host.
func (h Host) IsZero() bool { return h.name == "" }

// Addr returns the address of an IP-literal host.
func (h Host) Addr() (netip.Addr, bool) { return h.ip, h.ip.IsValid() }

// IsIP reports whether h is an IP literal.
func (h Host) IsIP() bool { return h.ip.IsValid() }

// Bracketed is the host as it appears in an authority: IPv6 literals in
// brackets.
func (h Host) Bracketed() string {
	if h.ip.Is6() {
		return "[" + h.name + "]"
	}
	return h.name
}

// Error is a refused host. Its Why is a short explanation for the deny
// detail; the pipeline answers it with reason bad_request.
type Error struct {
	Input string
	Why   string
}

// Error implements error.
func (e *Error) Error() string {
	in := e.Input
	if len(in) > 80 {
		in = in[:80] + "…"
	}
	return "invalid host " + quote(in) + ": " + e.Why
}

func refuse(input, why string) error { return &Error{Input: input, Why: why} }

// FromAddr is the Host of an address the gateway itself holds (a
// listener's address, a declared endpoint), not untrusted input.
func FromAddr(ip netip.Addr) Host {
	ip = ip.Unmap().WithZone("")
	return Host{name: ip.String(), ip: ip}
}

// ParseHost parses a host without a port: a name, an IPv4 literal in any
// accepted form, or an IPv6 literal with or without brackets.
func ParseHost(raw string) (Host, error) {
	if raw == "" {
		return Host{}, refuse(raw, "empty host")
	}
	if raw[0] == '[' {
		if len(raw) < 3 || raw[len(raw)-1] != ']' {
			return Host{}, refuse(raw, "unbalanced brackets")
		}
		return parseIPv6(raw, raw[1:len(raw)-1])
	}
	if strings.IndexByte(raw, ':') >= 0 {
		return parseIPv6(raw, raw)
	}
	return parseName(raw)
}

// parseIPv6 parses the inside of brackets.
func parseIPv6(raw, s string) (Host, error) {
	if strings.IndexByte(s, '%') >= 0 {
		return Host{}, refuse(raw, "IPv6 zones are not destinations")
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || !ip.Is6() {
		return Host{}, refuse(raw, "not an IPv6 address")
	}
	return FromAddr(ip), nil
}

// parseName parses a name or an IPv4 literal.
func parseName(raw string) (Host, error) {
	s := raw
	if strings.HasSuffix(s, ".") {
		s = s[:len(s)-1]
	}
	if s == "" {
		return Host{}, refuse(raw, "empty name")
	}
	if !isASCII(s) || hasACELabel(s) {
		a, why := toASCII(s)
		if why != "" {
			return Host{}, refuse(raw, why)
		}
		s = a
	}
	name, lower, why := checkLabels(s)
	if why != "" {
		return Host{}, refuse(raw, why)
	}
	if endsInNumber(name) {
		ip, ok := parseIPv4(name)
		if !ok {
			return Host{}, refuse(raw, "ends in a number but is not an IPv4 address")
		}
		return FromAddr(ip), nil
	}
	if lower {
		name = strings.ToLower(name)
	}
	return Host{name: name}, nil
}

// toASCII applies IDNA (UTS #46 Lookup) label by label to a name that
// holds non-ASCII text or A-labels. The full stops IDNA recognises
// (U+3002, U+FF0E, U+FF61) separate labels like '.'; a label that is
// plain ASCII and not an A-label is left as it is, so `_sip._tcp` next to
// an internationalised label stays valid (IDNA alone refuses '_').
func toASCII(s string) (string, string) {
	if !utf8.ValidString(s) {
		return "", "not valid UTF-8"
	}
	s = strings.NewReplacer("\u3002", ".", "\uff0e", ".", "\uff61", ".").Replace(s)
	s = strings.TrimSuffix(s, ".") // a trailing full stop of another script
	labels := strings.Split(s, ".")
	for i, l := range labels {
		if isASCII(l) && !hasACELabel(l) {
			continue
		}
		a, err := idna.Lookup.ToASCII(l)
		if err != nil {
			return "", "not a valid internationalised name (" + idnaWhy(err) + ")"
		}
		if !isASCII(a) || strings.Contains(a, ".") {
			return "", "not a valid internationalised name"
		}
		labels[i] = a
	}
	return strings.Join(labels, "."), ""
}

// checkLabels checks every label of s (no trailing dot) and reports
// whether s has upper-case letters to fold.
func checkLabels(s string) (name string, upper bool, why string) {
	if len(s) > MaxNameLen {
		return "", false, "longer than 253 bytes"
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			c := s[i]
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			case c >= 'A' && c <= 'Z':
				upper = true
			default:
				return "", false, "character " + quote(string(c)) + " is not allowed in a host name"
			}
			continue
		}
		label := s[start:i]
		switch {
		case label == "":
			return "", false, "empty label"
		case len(label) > maxLabelLen:
			return "", false, "label longer than 63 bytes"
		case label[0] == '-' || label[len(label)-1] == '-':
			return "", false, "label starts or ends with '-'"
		}
		start = i + 1
	}
	return s, upper, ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// hasACELabel reports whether a label of s starts with "xn--" (any case):
// such labels are checked by IDNA like Unicode ones.
func hasACELabel(s string) bool {
	for i := 0; i+4 <= len(s); i++ {
		if (i == 0 || s[i-1] == '.') && (s[i] == 'x' || s[i] == 'X') && (s[i+1] == 'n' || s[i+1] == 'N') &&
			s[i+2] == '-' && s[i+3] == '-' {
			return true
		}
	}
	return false
}

// idnaWhy is the kind of an IDNA error, without the decoded label (which
// can be any bytes).
func idnaWhy(err error) string {
	msg := strings.TrimPrefix(err.Error(), "idna: ")
	if i := strings.IndexByte(msg, '"'); i >= 0 {
		msg = msg[:i]
	}
	return strings.TrimSpace(msg)
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&0xf])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
