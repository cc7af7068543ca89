package sqlplan

import (
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/vocab"
)

// A report is planned as whole hours from the rollup and the partial
// hours at either end from the records; a range inside one hour, or with
// no whole hour, from the records alone.
func TestCostParts(t *testing.T) {
	h := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name         string
		since, until time.Time
		want         []costPart
	}{
		{"all time", time.Time{}, time.Time{}, []costPart{{rollup: true}}},
		{"whole hours", h, h.Add(3 * time.Hour), []costPart{{since: h, until: h.Add(3 * time.Hour), rollup: true}}},
		{"split ends", h.Add(20 * time.Minute), h.Add(3*time.Hour + 5*time.Minute), []costPart{
			{since: h.Add(time.Hour), until: h.Add(3 * time.Hour), rollup: true},
			{since: h.Add(20 * time.Minute), until: h.Add(time.Hour)},
			{since: h.Add(3 * time.Hour), until: h.Add(3*time.Hour + 5*time.Minute)},
		}},
		{"open end", h.Add(time.Minute), time.Time{}, []costPart{
			{since: h.Add(time.Hour), rollup: true},
			{since: h.Add(time.Minute), until: h.Add(time.Hour)},
		}},
		{"within an hour", h.Add(time.Minute), h.Add(50 * time.Minute), []costPart{{since: h.Add(time.Minute), until: h.Add(50 * time.Minute)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := costParts(audit.CostQuery{Since: tc.since, Until: tc.until}); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// Only calls that went out and ended count, grouped by hour, source,
// destination, meter and currency, in key order.
func TestCostGroups(t *testing.T) {
	h := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	rec := func(at time.Duration, src string, mod func(*audit.Record)) *audit.Record {
		r := &audit.Record{TimeStart: h.Add(at), TimeEnd: h.Add(at + time.Second), Event: vocab.EventOutboundCall,
			SourceWorkload: src, Host: "api.example.com", Decision: vocab.DecisionAllow, Enforced: true,
			BytesSent: 10, BytesReceived: 5, Cost: 0.5, Currency: "USD"}
		if mod != nil {
			mod(r)
		}
		return r
	}
	b := &audit.Batch{
		Inserts: []*audit.Record{
			rec(90*time.Minute, "b", nil),
			rec(5*time.Minute, "a", func(r *audit.Record) { r.Count = 3 }),
			rec(6*time.Minute, "a", func(r *audit.Record) { r.TimeEnd = time.Time{} }),                            // open
			rec(7*time.Minute, "a", func(r *audit.Record) { r.Decision = vocab.DecisionDeny }),                    // refused
			rec(8*time.Minute, "a", func(r *audit.Record) { r.Decision, r.Enforced = vocab.DecisionDeny, false }), // report mode
			rec(9*time.Minute, "a", func(r *audit.Record) { r.Event = vocab.EventDNSQuery }),
		},
		Outcomes: []*audit.Record{rec(10*time.Minute, "a", nil)},
	}
	want := []CostGroup{
		{Hour: h, Source: "a", Destination: "api.example.com", Currency: "USD", Calls: 5, Bytes: 45, Cost: 1.5},
		{Hour: h.Add(time.Hour), Source: "b", Destination: "api.example.com", Currency: "USD", Calls: 1, Bytes: 15, Cost: 0.5},
	}
	if got := CostGroups(b); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	seqs := GatewaySeqs(&audit.Batch{Inserts: []*audit.Record{{Gateway: "g1", Seq: 4}, {Gateway: "g2", Seq: 1}, {Gateway: "g1", Seq: 9}}})
	if !reflect.DeepEqual(seqs, []GatewaySeq{{"g1", 9}, {"g2", 1}}) {
		t.Errorf("seqs %+v", seqs)
	}
}

// Values go out as plain values and come back into the fields; a value of
// the wrong type is an error, never a panic.
func TestValues(t *testing.T) {
	r := audit.Record{Seq: 7, Count: 0, PolicyRules: []string{"a"}, Enforced: true}
	for _, c := range audit.Schema() {
		var back audit.Record
		if err := SetValue(c.Type, c.Field(&back), Value(c.Type, c.Field(&r))); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
	if err := SetValue(audit.Text, new(string), int64(1)); err == nil {
		t.Error("an int into a text column")
	}
	var s string
	if err := SetValue(audit.Text, &s, nil); err != nil || s != "" {
		t.Errorf("NULL: %q %v", s, err)
	}
}
