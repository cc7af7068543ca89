package kube

import "testing"

func TestGatewayRuleAllows(t *testing.T) {
	g := &gatewayRule{ns: "sluice", selector: map[string]string{"app": "sluice"}, servers: []gatewayServer{
		{port: 80, hosts: []gatewayHost{{"*", "api.payments.example"}, {"sluice", "*.crm.example"}}},
		{port: 443, hosts: []gatewayHost{{"team", "*"}}},
	}}
	for _, tc := range []struct {
		ns, pattern string
		port        int
		want        bool
	}{
		{"any", "api.payments.example", 80, true},
		{"any", "api.payments.example", 443, false},
		{"any", "other.payments.example", 80, false},
		{"sluice", "a.crm.example", 80, true},
		{"sluice", "*.crm.example", 80, true},
		{"sluice", "crm.example", 80, false},
		{"other", "a.crm.example", 80, false},
		{"team", "anything.example", 443, true},
		{"other", "anything.example", 443, false},
	} {
		if got := g.allows(tc.ns, tc.pattern, tc.port); got != tc.want {
			t.Errorf("allows(%s, %s, %d) = %v, want %v", tc.ns, tc.pattern, tc.port, got, tc.want)
		}
	}
	for _, tc := range []struct {
		labels map[string]string
		want   bool
	}{
		{nil, false},
		{map[string]string{"app": "sluice", "x": "y"}, true},
		{map[string]string{"app": "other"}, false},
	} {
		if got := g.selects(tc.labels); got != tc.want {
			t.Errorf("selects(%v) = %v", tc.labels, got)
		}
	}
}
