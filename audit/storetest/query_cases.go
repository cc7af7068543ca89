package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/vocab"
)

// confFixture writes whole records varied in every filtered field.
func fixture(t *testing.T, s audit.Store) []*audit.Record {
	t.Helper()
	var recs []*audit.Record
	for i := range 40 {
		r := Ended(Numbered("gw1", i+1, time.Duration(i/2)*time.Minute), 200) // pairs share time_start
		r.Host = []string{"api.stripe.com", "api.github.com", "evil.example"}[i%3]
		r.SourceIdentity = []string{IDCheckout, IDBilling, ""}[i%4%3]
		r.SourceWorkload = []string{"checkout", "billing", "", "other"}[i%4]
		r.SourceIP = fmt.Sprintf("10.0.0.%d", i%5)
		if i%3 == 2 {
			r.Decision, r.Reason = vocab.DecisionDeny, "policy_denied"
			if i%2 == 0 {
				r.Reason = "undeclared_destination"
			}
		}
		if i%7 == 0 {
			r.Event = vocab.EventDNSQuery
		}
		recs = append(recs, r)
	}
	// Two batches: rid order across commits too.
	if err := s.Write(context.Background(), &audit.Batch{Inserts: recs[:17]}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), &audit.Batch{Inserts: recs[17:]}); err != nil {
		t.Fatal(err)
	}
	return recs
}

// matches is the reference semantics of audit.Filter.
func matches(f audit.Filter, r *audit.Record) bool {
	if !f.Since.IsZero() && r.TimeStart.Before(f.Since) || !f.Until.IsZero() && !r.TimeStart.Before(f.Until) {
		return false
	}
	if f.Source != "" {
		if _, err := netip.ParseAddr(f.Source); err == nil {
			if r.SourceIP != f.Source {
				return false
			}
		} else if r.SourceIdentity != f.Source && r.SourceWorkload != f.Source {
			return false
		}
	}
	return (f.Host == "" || slices.Contains(f.Hosts(), r.Host)) &&
		(f.Decision == "" || f.Decision == r.Decision) &&
		(f.Reason == "" || f.Reason == r.Reason) &&
		(f.Event == r.Event || f.Event == "" && (r.Event != vocab.EventAuditRead || f.ID != "")) &&
		(f.ID == "" || f.ID == r.ID)
}

func caseQuery(t *testing.T, s audit.Store, _ func() (audit.Store, error)) {
	ctx := context.Background()
	recs := fixture(t, s)
	// Newest first: time_start, then insertion order.
	newest := slices.Clone(recs)
	slices.Reverse(newest)
	for _, f := range []audit.Filter{
		{},
		{Limit: 5},
		{Since: T0.Add(5 * time.Minute)},
		{Until: T0.Add(5 * time.Minute), Limit: 3},
		{Since: T0.Add(3 * time.Minute), Until: T0.Add(9 * time.Minute)},
		{Source: "checkout"},
		{Source: IDBilling, Limit: 4},
		{Source: "10.0.0.3"},
		{Source: "10.0.0.3", Host: "api.github.com", Limit: 2},
		{Host: "API.Stripe.com."},
		{Host: "evil.example."}, // the canonical name, or the name as typed
		{Host: "evil.example", Limit: 2},
		{Decision: vocab.DecisionDeny},
		{Decision: vocab.DecisionAllow, Limit: 7},
		{Reason: "undeclared_destination"},
		{Event: vocab.EventDNSQuery},
		{Event: vocab.EventOutboundCall, Decision: vocab.DecisionDeny, Since: T0.Add(2 * time.Minute)},
		{ID: recs[11].ID},
		{ID: "nope"},
		{Source: "other", Decision: vocab.DecisionDeny, Reason: "policy_denied", Limit: 1},
	} {
		var want []string
		for _, r := range newest {
			if matches(f, r) && (f.Limit == 0 || len(want) < f.Limit) {
				want = append(want, r.ID)
			}
		}
		got, err := audit.QueryAll(ctx, s, f)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		if !slices.Equal(IDs(got), want) {
			t.Errorf("%+v:\n got %v\nwant %v", f, IDs(got), want)
		}
	}
	// fn's error stops the query.
	stop := errors.New("stop")
	n := 0
	if err := s.Query(ctx, audit.Filter{}, func(*audit.Record) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("Query with a failing fn: %v after %d records", err, n)
	}
}
