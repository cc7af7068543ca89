package audit

import (
	"github.com/sluicehq/sluice/internal/vocab"
	"math"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
)

func TestPricer(t *testing.T) {
	p := newPricer(config.Cost{
		Currency: "EUR",
		PerGiB:   0.09,
		Meters: []config.Meter{
			{Name: "stripe.charge", Host: "api.stripe.com", Method: "post", PathPrefix: "/v1/charges", PerRequest: 0.002},
			{Name: "stripe.any", Host: "api.stripe.com", PerRequest: 0.001},
			{Name: "s3", Host: "*.s3.amazonaws.com", Method: "GET", PerRequest: 0.0000004},
			{Name: "catch-all", Host: "*", Method: "DELETE"},
		},
	})
	gib := int64(1 << 30)
	for _, tc := range []struct {
		name      string
		r         Record
		meter     string
		cost      float64
		wantPrice bool
	}{
		{"first meter wins", Record{Host: "api.stripe.com", Method: "POST", Path: "/v1/charges/ch_1"}, "stripe.charge", 0.002, true},
		{"method case-insensitive", Record{Host: "api.stripe.com", Method: "post", Path: "/v1/charges"}, "stripe.charge", 0.002, true},
		// Hosts arrive canonical; the pricer does not normalise them again.
		{"host as recorded", Record{Host: "API.Stripe.com.", Method: "POST", Path: "/v1/charges"}, "", 0, true},
		{"path prefix miss falls through", Record{Host: "api.stripe.com", Method: "POST", Path: "/v1/refunds"}, "stripe.any", 0.001, true},
		{"method miss falls through", Record{Host: "api.stripe.com", Method: "GET", Path: "/v1/charges"}, "stripe.any", 0.001, true},
		{"wildcard subdomain", Record{Host: "bucket.s3.amazonaws.com", Method: "GET", Path: "/k"}, "s3", 0.0000004, true},
		{"wildcard excludes apex", Record{Host: "s3.amazonaws.com", Method: "GET"}, "", 0, true},
		{"star matches any host", Record{Host: "example.org", Method: "DELETE"}, "catch-all", 0, true},
		{"no meter, bytes only", Record{Host: "example.org", Method: "GET", BytesSent: gib / 2, BytesReceived: gib / 2}, "", 0.09, true},
		{"meter plus bytes", Record{Host: "api.stripe.com", Method: "GET", BytesReceived: 2 * gib}, "stripe.any", 0.001 + 0.18, true},
		{"enforced denial costs nothing", Record{Host: "api.stripe.com", Method: "POST", Path: "/v1/charges", Decision: vocab.DecisionDeny, Enforced: true}, "", 0, true},
		{"report-mode denial went out", Record{Host: "api.stripe.com", Method: "POST", Path: "/v1/charges", Decision: vocab.DecisionDeny, Enforced: false}, "stripe.charge", 0.002, true},
		{"dns records cost nothing", Record{Event: vocab.EventDNSQuery, Host: "api.stripe.com"}, "", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			r.Meter, r.Cost = "stale", 99
			p.price(&r)
			if r.Meter != tc.meter || math.Abs(r.Cost-tc.cost) > 1e-12 || r.Currency != "EUR" {
				t.Errorf("got meter %q cost %v %s; want %q %v EUR", r.Meter, r.Cost, r.Currency, tc.meter, tc.cost)
			}
		})
	}
}
