package netguard

import (
	"errors"
	"net"
	"net/netip"
	"testing"
)

func TestIsForbidden(t *testing.T) {
	tests := []struct {
		ip  string
		bad bool
	}{
		{"93.184.216.34", false},
		{"8.8.8.8", false},
		{"127.0.0.1", true},
		{"127.255.0.9", true},
		{"10.0.0.1", true},
		{"172.16.5.5", true},
		{"172.32.0.1", false},
		{"192.168.1.1", true},
		{"100.64.0.1", true},
		{"169.254.169.254", true}, // cloud metadata
		{"0.0.0.0", true},
		{"0.1.2.3", true},
		{"240.0.0.1", true},
		{"255.255.255.255", true},
		{"224.0.0.251", true},
		{"192.0.2.1", true},
		{"198.51.100.1", true},
		{"203.0.113.1", true},
		{"198.18.0.1", true},
		{"2606:4700::1111", false},
		{"::1", true},
		{"::", true},
		{"fd00::1", true},
		{"fe80::1", true},
		{"ff02::1", true},
		{"2001:db8::1", true},
		{"::ffff:127.0.0.1", true},                     // IPv4-mapped loopback
		{"::ffff:8.8.8.8", false},                      // IPv4-mapped public
		{"::127.0.0.1", true},                          // IPv4-compatible
		{"64:ff9b::a9fe:a9fe", true},                   // NAT64 of 169.254.169.254
		{"64:ff9b::808:808", false},                    // NAT64 of 8.8.8.8
		{"2002:a00:1::1", true},                        // 6to4 of 10.0.0.1
		{"2002:808:808::1", false},                     // 6to4 of 8.8.8.8
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", true}, // Teredo, client 127.0.0.1 (inverted)
		{"fe80::1%eth0", true},
	}
	for _, tc := range tests {
		bad, why := IsForbidden(netip.MustParseAddr(tc.ip))
		if bad != tc.bad {
			t.Errorf("IsForbidden(%s) = %v (%s), want %v", tc.ip, bad, why, tc.bad)
		}
	}
}

func testGuard(t *testing.T, listeners ...string) *Guard {
	t.Helper()
	g, err := NewGuard(listeners)
	if err != nil {
		t.Fatal(err)
	}
	g.ifaddrs = func() ([]net.Addr, error) {
		return []net.Addr{
			&net.IPNet{IP: net.ParseIP("127.0.0.1"), Mask: net.CIDRMask(8, 32)},
			&net.IPNet{IP: net.ParseIP("10.20.30.40"), Mask: net.CIDRMask(24, 32)},
			&net.IPNet{IP: net.ParseIP("2001:db8::40"), Mask: net.CIDRMask(64, 128)},
		}, nil
	}
	if err := g.Refresh(); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGuardCheck(t *testing.T) {
	g := testGuard(t, "127.0.0.1:3128", "0.0.0.0:8080", "127.0.0.1:9901", ":5353", "")
	tests := []struct {
		ap       string
		declared bool
		ok       bool
	}{
		{"93.184.216.34:443", false, true},
		{"10.1.2.3:443", false, false},
		{"10.1.2.3:443", true, true},    // declared private endpoint
		{"127.0.0.1:3128", true, false}, // never the gateway itself
		{"10.9.9.9:8080", true, false},  // wildcard listener: any IP on its port
		{"127.0.0.1:9999", true, true},
		// Every way of reaching a listener is the gateway itself.
		{"0.0.0.0:9901", true, false},            // unspecified connects to the local host
		{"[::]:9901", true, false},               //
		{"127.0.0.2:9901", true, false},          // all of 127/8 is loopback
		{"[::1]:9901", true, false},              //
		{"[::ffff:0.0.0.0]:9901", true, false},   // mapped unspecified
		{"[::ffff:127.0.0.1]:3128", true, false}, //
		{"10.20.30.40:9901", true, false},        // a local interface address
		{"[2001:db8::40]:3128", true, false},     //
		{"10.20.30.40:5353", true, false},        // ":5353" is a wildcard listener
		{"10.20.30.41:9901", true, true},         // another host on an own port (specific listener)
		{"0.0.0.0:9999", true, true},             // declared, not an own port
		// Resolved answers that are the gateway's host are refused on any port.
		{"10.20.30.40:443", false, false},
		{"[2001:db8::40]:443", false, false},
	}
	for _, tc := range tests {
		err := g.Check(netip.MustParseAddrPort(tc.ap), tc.declared)
		var fe *ForbiddenError
		if (err == nil) != tc.ok || (err != nil && !errors.As(err, &fe)) {
			t.Errorf("Check(%s, %v) = %v, want ok=%v", tc.ap, tc.declared, err, tc.ok)
		}
	}
	var nilGuard *Guard
	if nilGuard.CheckIP(netip.MustParseAddr("10.0.0.1")) == nil {
		t.Error("nil guard must still refuse private answers")
	}
}
