package storetest

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/vocab"
)

func casePrune(t *testing.T, s audit.Store, _ func() (audit.Store, error)) {
	ctx := context.Background()
	var old, recent []*audit.Record
	for i := range 10 {
		r := Numbered("gw1", i+1, time.Duration(i)*time.Second)
		if i%3 != 0 {
			Ended(r, 200)
		}
		old = append(old, r) // 1, 4, 7, 10 stay open
	}
	for i := range 5 {
		recent = append(recent, Ended(Numbered("gw1", 20+i, time.Hour+time.Duration(i)*time.Second), 200))
	}
	if err := s.Write(ctx, &audit.Batch{Inserts: append(slices.Clone(old), recent...)}); err != nil {
		t.Fatal(err)
	}
	cut := T0.Add(30 * time.Minute)
	var got []int
	for {
		n, err := s.Prune(ctx, cut, 4)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
		if n == 0 {
			break
		}
	}
	if !slices.Equal(got, []int{4, 4, 2, 0}) {
		t.Errorf("prune batches: %v", got)
	}
	all, err := audit.QueryAll(ctx, s, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(recent) {
		t.Errorf("left after prune: %v", IDs(all))
	}
	if open, err := s.OpenRecords(ctx, "gw1"); err != nil || len(open) != 0 {
		t.Errorf("open after prune: %v, %v", IDs(open), err)
	}
	if seq, err := s.LastSeq(ctx, "gw1"); err != nil || seq != 24 {
		t.Errorf("LastSeq after prune: %d, %v", seq, err)
	}
}

func caseCost(t *testing.T, s audit.Store, _ func() (audit.Store, error)) {
	ctx := context.Background()
	mk := func(n int, at time.Duration, src, host, meter string, cost float64, mod func(*audit.Record)) *audit.Record {
		r := Ended(Numbered("gw1", n, at), 200)
		r.SourceWorkload, r.Host, r.Meter, r.Cost = src, host, meter, cost
		r.BytesSent, r.BytesReceived = int64(n), 0
		if mod != nil {
			mod(r)
		}
		return r
	}
	recs := []*audit.Record{
		mk(1, 10*time.Minute, "checkout", "api.stripe.com", "charge", 0.5, nil),
		mk(2, 70*time.Minute, "checkout", "api.stripe.com", "charge", 0.25, nil),
		mk(3, 80*time.Minute, "billing", "api.stripe.com", "charge", 0.125, nil),
		mk(4, 90*time.Minute, "billing", "api.github.com", "", 0, func(r *audit.Record) { r.Count = 3 }),
		// Denied only in report mode: it went out, it counts.
		mk(5, 100*time.Minute, "checkout", "api.github.com", "", 0.0625, func(r *audit.Record) { r.Decision, r.Enforced = vocab.DecisionDeny, false }),
		// Enforced denial, DNS query: never went out.
		mk(6, 110*time.Minute, "checkout", "api.stripe.com", "charge", 8, func(r *audit.Record) { r.Decision = vocab.DecisionDeny }),
		mk(7, 120*time.Minute, "checkout", "evil.example", "", 8, func(r *audit.Record) { r.Event = vocab.EventDNSQuery }),
	}
	// Still open: not counted.
	openRec := Numbered("gw1", 8, 130*time.Minute)
	if err := s.Write(ctx, &audit.Batch{Inserts: append(recs, openRec)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q    audit.CostQuery
		want []audit.CostRow
	}{
		{audit.CostQuery{}, []audit.CostRow{{Calls: 7, Bytes: 15, Cost: 0.9375, Currency: "USD"}}},
		{audit.CostQuery{By: []string{"source"}}, []audit.CostRow{
			{Source: "checkout", Calls: 3, Bytes: 8, Cost: 0.8125, Currency: "USD"},
			{Source: "billing", Calls: 4, Bytes: 7, Cost: 0.125, Currency: "USD"},
		}},
		{audit.CostQuery{By: []string{"destination"}, Since: T0.Add(75 * time.Minute)}, []audit.CostRow{
			{Destination: "api.stripe.com", Calls: 1, Bytes: 3, Cost: 0.125, Currency: "USD"},
			{Destination: "api.github.com", Calls: 4, Bytes: 9, Cost: 0.0625, Currency: "USD"},
		}},
		{audit.CostQuery{By: []string{"meter", "source"}, Since: T0.Add(5 * time.Minute), Until: T0.Add(85 * time.Minute)}, []audit.CostRow{
			{Source: "checkout", Meter: "charge", Calls: 2, Bytes: 3, Cost: 0.75, Currency: "USD"},
			{Source: "billing", Meter: "charge", Calls: 1, Bytes: 3, Cost: 0.125, Currency: "USD"},
		}},
		{audit.CostQuery{By: []string{"meter"}, Since: T0.Add(2 * time.Hour), Until: T0.Add(3 * time.Hour)}, []audit.CostRow{}},
	} {
		got, err := s.Cost(ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 && len(tc.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v:\n got %+v\nwant %+v", tc.q, got, tc.want)
		}
	}
}
