package canon

import (
	"strings"
	"testing"
)

func TestParseHost(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	tests := []struct {
		in, want string // want "" means refused
		ip       bool
	}{
		{"partner.test", "partner.test", false},
		{"Partner.TEST", "partner.test", false},
		{"partner.test.", "partner.test", false},
		{"partner.test..", "", false},
		{"a..b", "", false},
		{".a", "", false},
		{".", "", false},
		{"", "", false},
		{"x_y.example", "x_y.example", false},
		{"-a.example", "", false},
		{"a-.example", "", false},
		{long63 + ".example", long63 + ".example", false},
		{long63 + "a.example", "", false},
		{strings.Repeat("a.", 126) + "a", strings.Repeat("a.", 126) + "a", false},
		{strings.Repeat("a.", 127) + "a", "", false},
		{"a b.example", "", false},
		{"a%2eb.example", "", false},
		{"a*b.example", "", false},
		{"*.example", "", false},
		// IDNA: Unicode and A-labels are one destination.
		{"bücher.example", "xn--bcher-kva.example", false},
		{"BÜCHER.example", "xn--bcher-kva.example", false},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", false},
		{"XN--BCHER-KVA.example", "xn--bcher-kva.example", false},
		{"xn--zz.example", "", false},
		{"partner\uff0etest", "partner.test", false},  // fullwidth full stop
		{"partner.test\u3002", "partner.test", false}, // ideographic full stop as the trailing dot
		{"partner\u3002test\u3002\u3002", "", false},
		{"_sip._tcp.bücher.example", "_sip._tcp.xn--bcher-kva.example", false}, // IDNA per label: '_' elsewhere is kept
		{"_sip._tcp.xn--bcher-kva.example", "_sip._tcp.xn--bcher-kva.example", false},
		{"bücher\u3002example", "xn--bcher-kva.example", false},
		// IPv4 in every form.
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.1.", "127.0.0.1", true},
		{"127.1", "127.0.0.1", true},
		{"127.0.1", "127.0.0.1", true},
		{"2130706433", "127.0.0.1", true},
		{"0x7f000001", "127.0.0.1", true},
		{"0X7F.0.0.1", "127.0.0.1", true},
		{"0177.0.0.1", "127.0.0.1", true},
		{"017700000001", "127.0.0.1", true},
		{"0x7f.1", "127.0.0.1", true},
		{"169.254.169.254", "169.254.169.254", true},
		{"0xa9fea9fe", "169.254.169.254", true},
		{"0", "0.0.0.0", true},
		{"256.0.0.1", "", false},
		{"1.2.3.4.5", "", false},
		{"08.0.0.1", "", false},
		{"4294967296", "", false},
		{"example.123", "", false},
		{"example.0x1", "", false},
		{"example.0xg", "example.0xg", false}, // not a number: a name
		// IPv6.
		{"::1", "::1", true},
		{"[::1]", "::1", true},
		{"[::FFFF:127.0.0.1]", "127.0.0.1", true},
		{"[2001:DB8::1]", "2001:db8::1", true},
		{"[fe80::1%25eth0]", "", false},
		{"[fe80::1%eth0]", "", false},
		{"[1.2.3.4]", "", false},
		{"[::1", "", false},
	}
	for _, tt := range tests {
		h, err := ParseHost(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParseHost(%q) = %q, want refused", tt.in, h)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseHost(%q): %v", tt.in, err)
			continue
		}
		if h.String() != tt.want || h.IsIP() != tt.ip {
			t.Errorf("ParseHost(%q) = %q (ip %v), want %q (ip %v)", tt.in, h, h.IsIP(), tt.want, tt.ip)
		}
	}
}

func TestParseAuthority(t *testing.T) {
	tests := []struct {
		in       string
		def      int
		host     string // "" = refused
		port     int
		brackets string
	}{
		{"partner.test", 80, "partner.test", 80, "partner.test"},
		{"partner.test:8080", 80, "partner.test", 8080, "partner.test"},
		{"partner.test.:443", 80, "partner.test", 443, "partner.test"},
		{"partner.test..:80", 80, "", 0, ""},
		{"[::1]:80", 443, "::1", 80, "[::1]"},
		{"[::1]", 443, "::1", 443, "[::1]"},
		{"::1", 443, "", 0, ""},
		{"::1:80", 443, "", 0, ""},
		{"[::1]x", 443, "", 0, ""},
		{"a:0", 80, "", 0, ""},
		{"a:65536", 80, "", 0, ""},
		{"a:+80", 80, "", 0, ""},
		{"a:0080", 80, "a", 80, "a"},
		{"a:", 80, "", 0, ""},
		{":80", 80, "", 0, ""},
		{"127.1:80", 80, "127.0.0.1", 80, "127.0.0.1"},
		{"[::ffff:a9fe:a9fe]:80", 80, "169.254.169.254", 80, "169.254.169.254"},
	}
	for _, tt := range tests {
		h, port, err := ParseAuthority(tt.in, tt.def)
		if tt.host == "" {
			if err == nil {
				t.Errorf("ParseAuthority(%q) = %q:%d, want refused", tt.in, h, port)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseAuthority(%q): %v", tt.in, err)
			continue
		}
		if h.String() != tt.host || port != tt.port || h.Bracketed() != tt.brackets {
			t.Errorf("ParseAuthority(%q) = %q %d %q, want %q %d %q", tt.in, h, port, h.Bracketed(), tt.host, tt.port, tt.brackets)
		}
	}
}

func TestParseSNI(t *testing.T) {
	ok := map[string]string{"api.pay.test": "api.pay.test", "API.pay.test": "api.pay.test", "": ""}
	for in, want := range ok {
		h, err := ParseSNI(in)
		if err != nil || h.String() != want {
			t.Errorf("ParseSNI(%q) = %q, %v; want %q", in, h, err, want)
		}
	}
	for _, in := range []string{"api.pay.test:80", "api.pay.test.", "127.0.0.1", "[::1]", "::1", "a..b", "2130706433", "a b"} {
		if h, err := ParseSNI(in); err == nil {
			t.Errorf("ParseSNI(%q) = %q, want refused", in, h)
		}
	}
}

func TestParseDNSName(t *testing.T) {
	ok := map[string]string{"api.pay.test.": "api.pay.test", "API.Pay.Test.": "api.pay.test", "_dmarc.x.test.": "_dmarc.x.test"}
	for in, want := range ok {
		h, err := ParseDNSName(in)
		if err != nil || h.String() != want {
			t.Errorf("ParseDNSName(%q) = %q, %v; want %q", in, h, err, want)
		}
	}
	for _, in := range []string{".", `a\.b.test.`, `a\032b.test.`, `\195\188.test.`, "127.0.0.1.", "xn--zz.test."} {
		if h, err := ParseDNSName(in); err == nil {
			t.Errorf("ParseDNSName(%q) = %q, want refused", in, h)
		}
	}
}

func TestCanonicalIsAFixedPoint(t *testing.T) {
	// A canonical host parses to itself: a second parse (anywhere) can
	// never move a destination.
	for _, in := range []string{"Partner.Test.", "bücher.example", "0x7f.1", "[::ffff:1.2.3.4]", "[2001:DB8::1]"} {
		h, err := ParseHost(in)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseHost(h.Bracketed())
		if err != nil || again != h {
			t.Errorf("%q → %q → %q, %v", in, h, again, err)
		}
	}
}

func BenchmarkParseAuthority(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, err := ParseAuthority("api.payments.example:443", 80); err != nil {
			b.Fatal(err)
		}
	}
}

func TestInvalidUTF8IsRefused(t *testing.T) {
	for _, in := range []string{"aaa\xffa", "\xedA0", "a.\xc0\x80.test"} {
		if h, err := ParseHost(in); err == nil {
			t.Errorf("ParseHost(%q) = %q, want refused", in, h)
		}
	}
}
