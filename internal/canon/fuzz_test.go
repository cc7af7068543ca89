package canon

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseAuthority checks, for any authority: no panic; an accepted
// host is canonical (lower-case ASCII host-name characters, no empty
// label, no trailing dot, at most 253 bytes, or an unmapped IP without a
// zone); and it is a fixed point, so any later parse of it yields itself.
func FuzzParseAuthority(f *testing.F) {
	for _, s := range []string{
		"partner.test", "partner.test..", "Partner.Test.:443", "a..b:80", ".a", "[::1]:80", "[::ffff:127.0.0.1]",
		"127.1", "0x7f.0.0.1:80", "2130706433", "bücher.example", "xn--bcher-kva.example", "partner\uff0etest",
		"[fe80::1%25eth0]:80", "api.pay.test:80:80", "1.2.3.4.5", "x_y.test", "-a.test", "a:0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		h, port, err := ParseAuthority(in, 443)
		if err != nil {
			if h != (Host{}) {
				t.Fatalf("refused %q but returned %q", in, h)
			}
			return
		}
		if port < 1 || port > 65535 {
			t.Fatalf("%q: port %d", in, port)
		}
		checkCanonical(t, in, h)
		again, port2, err := ParseAuthority(h.Bracketed()+":"+strconv.Itoa(port), 80)
		if err != nil || again != h || port2 != port {
			t.Fatalf("%q → %q:%d → %q:%d, %v: not a fixed point", in, h, port, again, port2, err)
		}
		if sni, err := ParseSNI(h.String()); !h.IsIP() && (err != nil || sni != h) {
			t.Fatalf("%q → %q is not accepted as the same SNI: %q, %v", in, h, sni, err)
		}
		if dn, err := ParseDNSName(h.String() + "."); !h.IsIP() && (err != nil || dn != h) {
			t.Fatalf("%q → %q is not the same DNS name: %q, %v", in, h, dn, err)
		}
	})
}

func checkCanonical(t *testing.T, in string, h Host) {
	t.Helper()
	s := h.String()
	if ip, ok := h.Addr(); ok {
		if ip.Zone() != "" || ip.Is4In6() || ip.String() != s {
			t.Fatalf("%q → %q: not a canonical address", in, s)
		}
		return
	}
	if s == "" || len(s) > MaxNameLen || strings.HasSuffix(s, ".") || strings.Contains(s, "..") || s[0] == '.' {
		t.Fatalf("%q → %q: not a canonical name", in, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			t.Fatalf("%q → %q: byte %q", in, s, c)
		}
	}
	if endsInNumber(s) {
		t.Fatalf("%q → %q: a name that ends in a number", in, s)
	}
}
