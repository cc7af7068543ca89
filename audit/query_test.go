package audit_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/vocab"
)

const (
	idCheckout = "spiffe://cluster.local/ns/shop/sa/checkout"
	idBilling  = "spiffe://cluster.local/ns/shop/sa/billing"
)

// fixture writes a small, varied set of records and returns them by name.
func fixture(t *testing.T, h *harness) map[string]*audit.Record {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	gib := int64(1 << 30)
	type entry struct {
		name     string
		r        audit.Record
		complete bool // a denial or DNS record written whole
		outcome  func(*audit.Record)
	}
	entries := []entry{
		{name: "r0", r: audit.Record{TimeStart: now.Add(-1 * time.Hour), SourceWorkload: "checkout", SourceIdentity: idCheckout, SourceIP: "10.0.0.1",
			Host: "api.stripe.com", Port: 443, Method: "POST", Path: "/v1/charges", Decision: vocab.DecisionAllow, Enforced: true},
			outcome: func(r *audit.Record) { r.Status, r.BytesSent, r.BytesReceived = 200, gib/2, gib/2 }},
		{name: "r1", r: audit.Record{TimeStart: now.Add(-2 * time.Hour), SourceWorkload: "checkout", SourceIdentity: idCheckout, SourceIP: "10.0.0.1",
			Host: "api.stripe.com", Port: 443, Method: "POST", Path: "/v1/charges", Decision: vocab.DecisionDeny, Enforced: true, Reason: "policy_denied"},
			complete: true},
		{name: "r2", r: audit.Record{TimeStart: now.Add(-30 * time.Hour), SourceIdentity: idBilling, SourceIP: "10.0.0.2",
			Host: "api.github.com", Port: 443, Method: "GET", Path: "/repos", Decision: vocab.DecisionAllow, Enforced: true},
			outcome: func(r *audit.Record) {
				r.Status, r.Reason, r.Error, r.BytesReceived = 504, "upstream_timeout", "i/o timeout", 2*gib
			}},
		{name: "r3", r: audit.Record{TimeStart: now.Add(-10 * 24 * time.Hour), SourceIP: "10.0.0.3",
			Host: "api.github.com", Port: 443, Method: "GET", Decision: vocab.DecisionAllow, Enforced: true},
			outcome: func(r *audit.Record) { r.Status = 200 }},
		{name: "r4", r: audit.Record{TimeStart: now.Add(-3 * time.Hour), Event: vocab.EventDNSQuery, SourceIP: "10.0.0.3",
			Host: "evil.example", Decision: vocab.DecisionDeny, Enforced: true, Reason: "undeclared_destination", Count: 3},
			complete: true},
		{name: "r5", r: audit.Record{TimeStart: now.Add(-5 * time.Hour), SourceWorkload: "billing", SourceIdentity: idBilling, SourceIP: "10.0.0.2",
			Host: "api.stripe.com", Port: 443, Method: "POST", Path: "/v1/charges", Decision: vocab.DecisionDeny, Enforced: false, Reason: "undeclared_destination"},
			outcome: func(r *audit.Record) { r.Status = 200 }},
		{name: "old", r: audit.Record{TimeStart: now.Add(-40 * 24 * time.Hour), SourceWorkload: "checkout", Host: "api.stripe.com",
			Method: "POST", Path: "/v1/charges", Decision: vocab.DecisionAllow, Enforced: true},
			outcome: func(r *audit.Record) { r.Status = 200 }},
		{name: "ip9", r: audit.Record{TimeStart: now.Add(-4 * time.Hour), SourceIP: "10.0.0.9", Host: "api.github.com",
			Method: "GET", Decision: vocab.DecisionAllow, Enforced: true},
			outcome: func(r *audit.Record) { r.Status = 200 }},
	}
	out := map[string]*audit.Record{}
	for _, e := range entries {
		r := e.r
		if e.complete {
			if err := h.a.Complete(ctx, &r); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := h.a.Begin(ctx, &r); err != nil {
				t.Fatal(err)
			}
			e.outcome(&r)
			h.a.End(&r)
		}
		out[e.name] = &r
	}
	if err := h.a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return out
}

func costHarness(t *testing.T) *harness {
	return newHarness(t, func(o *audit.Options) {
		o.Cost = config.Cost{Currency: "USD", PerGiB: 0.5, Meters: []config.Meter{
			{Name: "charge", Host: "api.stripe.com", Method: "POST", PathPrefix: "/v1/charges", PerRequest: 0.002}}}
	})
}

func TestQueryFilters(t *testing.T) {
	h := costHarness(t)
	recs := fixture(t, h)
	now := time.Now()
	for _, tc := range []struct {
		name string
		f    audit.Filter
		want string // names, newest first
	}{
		{"all", audit.Filter{}, "r0 r1 r4 ip9 r5 r2 r3 old"},
		{"since", audit.Filter{Since: now.Add(-24 * time.Hour)}, "r0 r1 r4 ip9 r5"},
		{"until", audit.Filter{Until: now.Add(-24 * time.Hour)}, "r2 r3 old"},
		{"range", audit.Filter{Since: now.Add(-48 * time.Hour), Until: now.Add(-4*time.Hour - time.Minute)}, "r5 r2"},
		{"source workload", audit.Filter{Source: "checkout"}, "r0 r1 old"},
		{"source identity", audit.Filter{Source: idBilling}, "r5 r2"},
		{"source ip", audit.Filter{Source: "10.0.0.3"}, "r4 r3"},
		{"host", audit.Filter{Host: "api.github.com"}, "ip9 r2 r3"},
		{"host normalised", audit.Filter{Host: "API.GITHUB.COM."}, "ip9 r2 r3"},
		{"decision deny", audit.Filter{Decision: vocab.DecisionDeny}, "r1 r4 r5"},
		{"decision allow", audit.Filter{Decision: vocab.DecisionAllow}, "r0 ip9 r2 r3 old"},
		{"reason", audit.Filter{Reason: "undeclared_destination"}, "r4 r5"},
		{"reason from the outcome", audit.Filter{Reason: "upstream_timeout"}, "r2"},
		{"event", audit.Filter{Event: vocab.EventDNSQuery}, "r4"},
		{"id", audit.Filter{ID: recs["r3"].ID}, "r3"},
		{"limit", audit.Filter{Limit: 2}, "r0 r1"},
		{"source and decision", audit.Filter{Source: "checkout", Decision: vocab.DecisionDeny}, "r1"},
		{"source with limit", audit.Filter{Source: idBilling, Limit: 1}, "r5"},
		{"host and since", audit.Filter{Host: "api.stripe.com", Since: now.Add(-24 * time.Hour)}, "r0 r1 r5"},
		{"nothing", audit.Filter{Host: "nowhere.example"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := h.query(t, tc.f)
			var names []string
			for _, g := range got {
				for name, r := range recs {
					if r.ID == g.ID {
						names = append(names, name)
					}
				}
			}
			if s := strings.Join(names, " "); s != tc.want {
				t.Errorf("got %q, want %q", s, tc.want)
			}
		})
	}
	// A record reads back as written.
	got := h.query(t, audit.Filter{ID: recs["r2"].ID})[0]
	want := recs["r2"]
	if got.Status != 504 || got.Error != "i/o timeout" || got.Reason != "upstream_timeout" || got.BytesReceived != 1<<30*2 ||
		got.Cost != 1 || got.Host != "api.github.com" || got.Seq != want.Seq || got.Gateway != "gw-1" ||
		!got.TimeStart.Equal(want.TimeStart.Truncate(time.Millisecond)) || got.SourceIdentity != idBilling {
		t.Errorf("r2 read back as %+v", got)
	}
	if got := h.query(t, audit.Filter{ID: recs["r4"].ID})[0]; got.Count != 3 || got.Event != vocab.EventDNSQuery {
		t.Errorf("r4 read back as %+v", got)
	}
}

func TestCostAggregation(t *testing.T) {
	h := costHarness(t)
	fixture(t, h)
	r, err := testStores.OpenReader(context.Background(), h.url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	since := time.Now().Add(-720 * time.Hour)
	for _, tc := range []struct {
		by   []string
		want []audit.CostRow
	}{
		// r0 (1 GiB, charge), r5 (report-mode denial, charge), r2 (2 GiB),
		// r3, ip9; not r1 (enforced denial), r4 (DNS), old (40 days).
		{nil, []audit.CostRow{{Calls: 5, Bytes: 3 << 30, Cost: 0.502 + 0.002 + 1, Currency: "USD"}}},
		{[]string{"source"}, []audit.CostRow{
			{Source: idBilling, Calls: 1, Bytes: 2 << 30, Cost: 1, Currency: "USD"},
			{Source: "checkout", Calls: 1, Bytes: 1 << 30, Cost: 0.502, Currency: "USD"},
			{Source: "billing", Calls: 1, Cost: 0.002, Currency: "USD"},
			{Source: "10.0.0.3", Calls: 1, Currency: "USD"},
			{Source: "10.0.0.9", Calls: 1, Currency: "USD"},
		}},
		{[]string{"destination", "meter"}, []audit.CostRow{
			{Destination: "api.github.com", Calls: 3, Bytes: 2 << 30, Cost: 1, Currency: "USD"},
			{Destination: "api.stripe.com", Meter: "charge", Calls: 2, Bytes: 1 << 30, Cost: 0.504, Currency: "USD"},
		}},
		{[]string{"meter"}, []audit.CostRow{
			{Calls: 3, Bytes: 2 << 30, Cost: 1, Currency: "USD"},
			{Meter: "charge", Calls: 2, Bytes: 1 << 30, Cost: 0.504, Currency: "USD"},
		}},
	} {
		t.Run(strings.Join(tc.by, ","), func(t *testing.T) {
			got, err := r.Cost(context.Background(), audit.CostQuery{Since: since, By: tc.by})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if math.Abs(g.Cost-w.Cost) > 1e-9 {
					t.Errorf("row %d cost %v, want %v", i, g.Cost, w.Cost)
				}
				g.Cost, w.Cost = 0, 0
				if g != w {
					t.Errorf("row %d: got %+v\nwant %+v", i, g, w)
				}
			}
		})
	}
	all, err := r.Cost(context.Background(), audit.CostQuery{})
	if err != nil || len(all) != 1 || all[0].Calls != 6 {
		t.Errorf("all time: %+v %v", all, err)
	}
}
