package audit

import (
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/vocab"
)

func TestWentOut(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Record
		want bool
	}{
		{"allowed, answered", Record{Event: vocab.EventOutboundCall, Decision: "allow", Enforced: true, DialedIP: "192.0.2.1", Status: 200}, true},
		{"denied", Record{Event: vocab.EventOutboundCall, Decision: "deny", Enforced: true, Reason: "policy_denied"}, false},
		{"denied in report mode", Record{Event: vocab.EventOutboundCall, Decision: "deny", Reason: "policy_denied", DialedIP: "192.0.2.1"}, true},
		{"name did not resolve", Record{Event: vocab.EventOutboundCall, Decision: "allow", Enforced: true, Reason: "dns_failure"}, false},
		{"connect refused", Record{Event: vocab.EventOutboundCall, Decision: "allow", Enforced: true, Reason: "upstream_unreachable"}, false},
		{"upstream went away mid-call", Record{Event: vocab.EventOutboundCall, Decision: "allow", Enforced: true, Reason: "upstream_unreachable", DialedIP: "192.0.2.1"}, true},
		{"response timed out", Record{Event: vocab.EventOutboundCall, Decision: "allow", Enforced: true, Reason: "upstream_timeout", DialedIP: "192.0.2.1"}, true},
		{"DNS query", Record{Event: vocab.EventDNSQuery, Decision: "deny", Enforced: true}, false},
		{"read of the records", Record{Event: vocab.EventAuditRead, Decision: "allow", Enforced: true}, false},
	} {
		if got := tc.r.WentOut(); got != tc.want {
			t.Errorf("%s: WentOut = %v", tc.name, got)
		}
	}
}

// A call that never reached an upstream is not priced, whatever its meter.
func TestPriceSkipsCallsThatNeverLeft(t *testing.T) {
	p := newPricer(config.Cost{Currency: "USD", PerGiB: 0.09, Meters: []config.Meter{{Name: "charge", Host: "api.stripe.com", PerRequest: 0.002}}})
	r := &Record{Event: vocab.EventOutboundCall, Decision: "allow", Enforced: true, Host: "api.stripe.com", Method: "POST",
		Path: "/v1/charges", Reason: "dns_failure"}
	p.price(r)
	if r.Cost != 0 || r.Meter != "" {
		t.Errorf("priced a call that never left: %v %q", r.Cost, r.Meter)
	}
	r.Reason, r.DialedIP, r.BytesReceived = "", "192.0.2.1", 1<<30
	p.price(r)
	if r.Cost == 0 {
		t.Error("an answered call is not priced")
	}
}
