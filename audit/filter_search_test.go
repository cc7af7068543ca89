package audit

import (
	"slices"
	"testing"
)

// A filter's keys are among those of every record it selects: for host,
// every spelling Filter.Hosts accepts, and for the source, any of
// identity, workload and address; paired with the other fields, and
// after the outcome (SearchOutcomeKeys) of a call first kept open.
func TestSearchKeysOfFilterAreRecords(t *testing.T) {
	for _, tc := range []struct {
		recorded string   // the host as recorded
		typed    []string // filters that select it (Filter.Hosts)
	}{
		{"api.stripe.com", []string{"api.stripe.com", "API.Stripe.com.", "api.stripe.com."}},
		{"10.20.0.1.", []string{"10.20.0.1."}}, // a DNS name recorded as sent
		{"10.20.0.1", []string{"10.20.0.1", "10.20.0.1."}},
		{"2001:db8::1", []string{"2001:db8::1", "[2001:db8::1]", "2001:DB8::1"}},
		{"xn--bcher-kva.example", []string{"bücher.example", "XN--BCHER-KVA.example"}},
		{"not a host", []string{"not a host"}},
	} {
		r := &Record{Host: tc.recorded, SourceIdentity: "spiffe://x/sa/checkout", SourceWorkload: "checkout",
			SourceIP: "10.1.0.7", Event: "outbound_call", Decision: "deny", Reason: "policy_denied", Status: 403,
			ServiceEntry: "ns/se", Path: "/v1/charges"}
		open := SearchKeys(nil, r, true)
		whole := SearchKeys(nil, r, false)
		ended := SearchOutcomeKeys(slices.Clone(open), r)
		for _, typed := range tc.typed {
			if f := (Filter{Host: typed}); !slices.Contains(f.Hosts(), tc.recorded) {
				t.Fatalf("%q does not select %q: the case is wrong", typed, tc.recorded)
			}
			for _, src := range []string{"", r.SourceIdentity, r.SourceWorkload, r.SourceIP} {
				f := Filter{Host: typed, Source: src, Decision: "deny", Status: 403, Reason: "policy_denied", Path: "/v1/ch"}
				for _, k := range f.SearchKeys() {
					if !slices.Contains(whole, k) || !slices.Contains(ended, k) {
						t.Errorf("record host %q, filter %+v: key %x missing", tc.recorded, f, k)
					}
				}
			}
		}
	}
}
