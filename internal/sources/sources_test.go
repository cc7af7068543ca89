package sources

import (
	"net/netip"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
)

func TestWorkload(t *testing.T) {
	m := New([]config.Source{
		{CIDR: "10.0.0.0/8", Workload: "cluster"},
		{CIDR: "10.1.2.0/24", Workload: "payments"},
		{CIDR: "10.1.2.7/32", Workload: "payments-batch"},
		{CIDR: "fd00::/8", Workload: "v6"},
		{CIDR: "not-a-cidr", Workload: "skipped"},
	})
	for _, tc := range []struct{ ip, want string }{
		{"10.1.2.7", "payments-batch"},
		{"10.1.2.8", "payments"},
		{"10.9.9.9", "cluster"},
		{"::ffff:10.1.2.8", "payments"},
		{"fd00::1", "v6"},
		{"192.168.1.1", ""},
	} {
		if got := m.Workload(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("Workload(%s) = %q, want %q", tc.ip, got, tc.want)
		}
	}
	if m.Len() != 4 {
		t.Errorf("Len = %d, want 4 (the bad CIDR skipped)", m.Len())
	}
	var none *Map
	if none.Workload(netip.MustParseAddr("10.0.0.1")) != "" || none.Len() != 0 {
		t.Error("nil Map knows a workload")
	}
}
