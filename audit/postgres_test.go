package audit

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/internal/vocab"
)

// storeKind opens fresh stores of one backend for the conformance test.
type storeKind struct {
	name string
	// open returns a fresh store and its URL (for OpenStore read-only).
	open func(t *testing.T) (Store, string)
}

func storeKinds() []storeKind {
	return []storeKind{
		{"sqlite", func(t *testing.T) (Store, string) {
			s, path := openTestStore(t)
			return s, "sqlite://" + path
		}},
		{"postgres", func(t *testing.T) (Store, string) {
			url := pgTestURL(t)
			s, err := OpenStore(context.Background(), url, StoreOptions{Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, url
		}},
	}
}

// conformanceCases are run against every store kind.
var conformanceCases = []struct {
	name string
	run  func(t *testing.T, s Store, url string)
}{
	{"WriteOpenOutcomesWhole", confWrite},
	{"QueryFilters", confQuery},
	{"Prune", confPrune},
	{"Cost", confCost},
	{"ReadOnly", confReadOnly},
}

func TestStoreConformance(t *testing.T) {
	for _, k := range storeKinds() {
		t.Run(k.name, func(t *testing.T) {
			for _, c := range conformanceCases {
				t.Run(c.name, func(t *testing.T) {
					s, url := k.open(t)
					c.run(t, s, url)
				})
			}
		})
	}
}

// confTime is a millisecond-aligned time (SQLite keeps milliseconds).
var confTime = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// confRecord is record n of gateway gw, starting at confTime + at.
func confRecord(gw string, n int, at time.Duration) *Record {
	r := sample(n)
	r.ID = fmt.Sprintf("%s-%04d", gw, n)
	r.Seq = uint64(n)
	r.Gateway = gw
	r.TimeStart = confTime.Add(at)
	r.Count = 1
	return r
}

// end gives r an outcome.
func end(r *Record, status int) *Record {
	r.TimeEnd = r.TimeStart.Add(2 * time.Millisecond) // SQLite keeps milliseconds
	r.DurationMS = 1.5
	r.Status, r.BytesSent, r.BytesReceived = status, 100, 2000
	r.DialedIP, r.TLSVersion, r.SNI = "192.0.2.1", "TLS1.3", r.Host
	r.Meter, r.Cost, r.Currency = "charge", 0.25, "USD"
	return r
}

// public is r without the store's bookkeeping, for comparisons.
func public(r Record) Record {
	r.rid, r.gen, r.ended = 0, 0, false
	return r
}

func ids(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func confWrite(t *testing.T, s Store, _ string) {
	ctx := context.Background()
	a := confRecord("gw1", 1, 0)
	b := confRecord("gw1", 2, time.Millisecond)
	c := end(confRecord("gw1", 3, 2*time.Millisecond), 201)
	c.PolicyRules = []string{"allow \"quoted\"", "second"}
	d := confRecord("gw2", 7, 3*time.Millisecond)
	if err := s.Write(ctx, &Batch{Inserts: []*Record{a, b, c, d}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Record{a, b, c, d} {
		if r.rid == 0 || r.gen == 0 {
			t.Errorf("%s: rid %d gen %d after Write", r.ID, r.rid, r.gen)
		}
	}
	open, err := s.OpenRecords(ctx, "gw1")
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(open); !slices.Equal(got, []string{a.ID, b.ID}) {
		t.Fatalf("open gw1: %v", got)
	}
	if !reflect.DeepEqual(public(open[0]), public(*a)) {
		t.Errorf("open record:\n got %+v\nwant %+v", public(open[0]), public(*a))
	}
	// Outcomes: a by rid, b by ID only, e never inserted (whole record).
	ao := end(new(*a), 200)
	bo := end(new(*b), 502)
	bo.rid, bo.gen = 0, 0
	bo.Reason, bo.Error = "upstream_error", "connection reset"
	e := end(confRecord("gw1", 9, 4*time.Millisecond), 204)
	if err := s.Write(ctx, &Batch{Outcomes: []*Record{ao, bo, e}}); err != nil {
		t.Fatal(err)
	}
	for gw, want := range map[string][]string{"gw1": nil, "gw2": {d.ID}, "gw3": nil} {
		open, err := s.OpenRecords(ctx, gw)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(open); !slices.Equal(got, want) {
			t.Errorf("open %s: %v, want %v", gw, got, want)
		}
	}
	for gw, want := range map[string]uint64{"gw1": 9, "gw2": 7, "gw3": 0} {
		if got, err := s.LastSeq(ctx, gw); err != nil || got != want {
			t.Errorf("LastSeq(%s) = %d, %v; want %d", gw, got, err, want)
		}
	}
	all, err := QueryAll(ctx, s, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []*Record{e, d, c, bo, ao}
	if len(all) != len(want) {
		t.Fatalf("records: %v", ids(all))
	}
	for i, w := range want {
		if got := public(all[i]); !reflect.DeepEqual(got, public(*w)) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, got, public(*w))
		}
	}
	// A Check is a probe write.
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// confFixture writes whole records varied in every filtered field.
func confFixture(t *testing.T, s Store) []*Record {
	t.Helper()
	var recs []*Record
	for i := range 40 {
		r := end(confRecord("gw1", i+1, time.Duration(i/2)*time.Minute), 200) // pairs share time_start
		r.Host = []string{"api.stripe.com", "api.github.com", "evil.example"}[i%3]
		r.SourceIdentity = []string{idCheckout, idBilling, ""}[i%4%3]
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
	if err := s.Write(context.Background(), &Batch{Inserts: recs[:17]}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), &Batch{Inserts: recs[17:]}); err != nil {
		t.Fatal(err)
	}
	return recs
}

// matches is the reference semantics of Filter.
func matches(f Filter, r *Record) bool {
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
		(f.Event == "" || f.Event == r.Event) &&
		(f.ID == "" || f.ID == r.ID)
}

func confQuery(t *testing.T, s Store, _ string) {
	ctx := context.Background()
	recs := confFixture(t, s)
	// Newest first: time_start, then insertion order.
	newest := slices.Clone(recs)
	slices.Reverse(newest)
	for _, f := range []Filter{
		{},
		{Limit: 5},
		{Since: confTime.Add(5 * time.Minute)},
		{Until: confTime.Add(5 * time.Minute), Limit: 3},
		{Since: confTime.Add(3 * time.Minute), Until: confTime.Add(9 * time.Minute)},
		{Source: "checkout"},
		{Source: idBilling, Limit: 4},
		{Source: "10.0.0.3"},
		{Source: "10.0.0.3", Host: "api.github.com", Limit: 2},
		{Host: "API.Stripe.com."},
		{Host: "evil.example."}, // the canonical name, or the name as typed
		{Host: "evil.example", Limit: 2},
		{Decision: vocab.DecisionDeny},
		{Decision: vocab.DecisionAllow, Limit: 7},
		{Reason: "undeclared_destination"},
		{Event: vocab.EventDNSQuery},
		{Event: vocab.EventOutboundCall, Decision: vocab.DecisionDeny, Since: confTime.Add(2 * time.Minute)},
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
		got, err := QueryAll(ctx, s, f)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		if !slices.Equal(ids(got), want) {
			t.Errorf("%+v:\n got %v\nwant %v", f, ids(got), want)
		}
	}
	// fn's error stops the query.
	stop := errors.New("stop")
	n := 0
	if err := s.Query(ctx, Filter{}, func(*Record) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("Query with a failing fn: %v after %d records", err, n)
	}
}

func confPrune(t *testing.T, s Store, _ string) {
	ctx := context.Background()
	var old, recent []*Record
	for i := range 10 {
		r := confRecord("gw1", i+1, time.Duration(i)*time.Second)
		if i%3 != 0 {
			end(r, 200)
		}
		old = append(old, r) // 1, 4, 7, 10 stay open
	}
	for i := range 5 {
		recent = append(recent, end(confRecord("gw1", 20+i, time.Hour+time.Duration(i)*time.Second), 200))
	}
	if err := s.Write(ctx, &Batch{Inserts: append(slices.Clone(old), recent...)}); err != nil {
		t.Fatal(err)
	}
	cut := confTime.Add(30 * time.Minute)
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
	all, err := QueryAll(ctx, s, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(recent) {
		t.Errorf("left after prune: %v", ids(all))
	}
	if open, err := s.OpenRecords(ctx, "gw1"); err != nil || len(open) != 0 {
		t.Errorf("open after prune: %v, %v", ids(open), err)
	}
	if seq, err := s.LastSeq(ctx, "gw1"); err != nil || seq != 24 {
		t.Errorf("LastSeq after prune: %d, %v", seq, err)
	}
}

func confCost(t *testing.T, s Store, _ string) {
	ctx := context.Background()
	mk := func(n int, at time.Duration, src, host, meter string, cost float64, mod func(*Record)) *Record {
		r := end(confRecord("gw1", n, at), 200)
		r.SourceWorkload, r.Host, r.Meter, r.Cost = src, host, meter, cost
		r.BytesSent, r.BytesReceived = int64(n), 0
		if mod != nil {
			mod(r)
		}
		return r
	}
	recs := []*Record{
		mk(1, 10*time.Minute, "checkout", "api.stripe.com", "charge", 0.5, nil),
		mk(2, 70*time.Minute, "checkout", "api.stripe.com", "charge", 0.25, nil),
		mk(3, 80*time.Minute, "billing", "api.stripe.com", "charge", 0.125, nil),
		mk(4, 90*time.Minute, "billing", "api.github.com", "", 0, func(r *Record) { r.Count = 3 }),
		// Denied only in report mode: it went out, it counts.
		mk(5, 100*time.Minute, "checkout", "api.github.com", "", 0.0625, func(r *Record) { r.Decision, r.Enforced = vocab.DecisionDeny, false }),
		// Enforced denial, DNS query: never went out.
		mk(6, 110*time.Minute, "checkout", "api.stripe.com", "charge", 8, func(r *Record) { r.Decision = vocab.DecisionDeny }),
		mk(7, 120*time.Minute, "checkout", "evil.example", "", 8, func(r *Record) { r.Event = vocab.EventDNSQuery }),
	}
	// Still open: not counted.
	openRec := confRecord("gw1", 8, 130*time.Minute)
	if err := s.Write(ctx, &Batch{Inserts: append(recs, openRec)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q    CostQuery
		want []CostRow
	}{
		{CostQuery{}, []CostRow{{Calls: 7, Bytes: 15, Cost: 0.9375, Currency: "USD"}}},
		{CostQuery{By: []string{"source"}}, []CostRow{
			{Source: "checkout", Calls: 3, Bytes: 8, Cost: 0.8125, Currency: "USD"},
			{Source: "billing", Calls: 4, Bytes: 7, Cost: 0.125, Currency: "USD"},
		}},
		{CostQuery{By: []string{"destination"}, Since: confTime.Add(75 * time.Minute)}, []CostRow{
			{Destination: "api.stripe.com", Calls: 1, Bytes: 3, Cost: 0.125, Currency: "USD"},
			{Destination: "api.github.com", Calls: 4, Bytes: 9, Cost: 0.0625, Currency: "USD"},
		}},
		{CostQuery{By: []string{"meter", "source"}, Since: confTime.Add(5 * time.Minute), Until: confTime.Add(85 * time.Minute)}, []CostRow{
			{Source: "checkout", Meter: "charge", Calls: 2, Bytes: 3, Cost: 0.75, Currency: "USD"},
			{Source: "billing", Meter: "charge", Calls: 1, Bytes: 3, Cost: 0.125, Currency: "USD"},
		}},
		{CostQuery{By: []string{"meter"}, Since: confTime.Add(2 * time.Hour), Until: confTime.Add(3 * time.Hour)}, []CostRow{}},
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

func confReadOnly(t *testing.T, s Store, url string) {
	ctx := context.Background()
	r := end(confRecord("gw1", 1, 0), 200)
	if err := s.Write(ctx, &Batch{Inserts: []*Record{r}}); err != nil {
		t.Fatal(err)
	}
	ro, err := OpenStore(ctx, url, StoreOptions{ReadOnly: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.Write(ctx, &Batch{Inserts: []*Record{confRecord("gw1", 2, 0)}}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Write: %v", err)
	}
	if _, err := ro.Prune(ctx, confTime.Add(time.Hour), 10); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Prune: %v", err)
	}
	if err := ro.Check(ctx); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Check: %v", err)
	}
	got, err := QueryAll(ctx, ro, Filter{})
	if err != nil || len(got) != 1 || !reflect.DeepEqual(public(got[0]), public(*r)) {
		t.Errorf("query read-only: %+v, %v", got, err)
	}
	if _, err := ro.Cost(ctx, CostQuery{}); err != nil {
		t.Errorf("cost read-only: %v", err)
	}
}

// Read-only on a database that holds no audit store is refused, and the
// URL forms reach the PostgreSQL store.
func TestPostgresOpenErrors(t *testing.T) {
	ctx := context.Background()
	url := pgTestURL(t)
	if _, err := OpenStore(ctx, url, StoreOptions{ReadOnly: true, Logger: quiet}); err == nil ||
		!strings.Contains(err.Error(), "not a Sluice audit store") {
		t.Errorf("read-only on an empty database: %v", err)
	}
	s, err := OpenStore(ctx, strings.Replace(url, "postgres://", "postgresql://", 1), StoreOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Opening again finds the schema in place.
	s, err = OpenStore(ctx, url, StoreOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := OpenStore(ctx, "postgres://nobody@127.0.0.1:1/x?connect_timeout=2", StoreOptions{Logger: quiet}); err == nil ||
		!strings.Contains(err.Error(), "audit: postgres") {
		t.Errorf("unreachable server: %v", err)
	}
}

// Timestamps survive the round trip to the microsecond (PostgreSQL's
// precision; SQLite keeps milliseconds).
func TestPostgresTimePrecision(t *testing.T) {
	ctx := context.Background()
	s, err := OpenStore(ctx, pgTestURL(t), StoreOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := end(confRecord("gw1", 1, 123456789*time.Nanosecond), 200)
	r.TimeEnd = r.TimeStart.Add(987654 * time.Nanosecond)
	if err := s.Write(ctx, &Batch{Inserts: []*Record{r}}); err != nil {
		t.Fatal(err)
	}
	got, err := QueryAll(ctx, s, Filter{})
	if err != nil || len(got) != 1 {
		t.Fatal(got, err)
	}
	if want := r.TimeStart.Truncate(time.Microsecond); !got[0].TimeStart.Equal(want) || got[0].TimeStart.Location() != time.UTC {
		t.Errorf("time_start %v, want %v", got[0].TimeStart, want)
	}
	if want := r.TimeEnd.Truncate(time.Microsecond); !got[0].TimeEnd.Equal(want) {
		t.Errorf("time_end %v, want %v", got[0].TimeEnd, want)
	}
}

// A full Auditor on PostgreSQL: Begin/End/Complete are committed straight
// to the store (no spool), queried back, and a call left open is closed
// with gateway_restart by the next Open.
func TestPostgresAuditor(t *testing.T) {
	ctx := context.Background()
	url := pgTestURL(t)
	opts := Options{
		Config:        config.Audit{Store: url, OnFailure: "deny"},
		Cost:          config.Cost{Currency: "USD", Meters: []config.Meter{{Name: "charge", Host: "api.stripe.com", Method: "POST", PathPrefix: "/v1/charges", PerRequest: 0.002}}},
		Gateway:       "gw-pg",
		Logger:        quiet,
		ProbeInterval: 20 * time.Millisecond,
	}
	a, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if a.spool != nil {
		t.Fatal("a postgres store runs behind a spool")
	}
	call := Record{SourceWorkload: "checkout", Host: "api.stripe.com", Port: 443, Method: "POST", Path: "/v1/charges",
		Decision: vocab.DecisionAllow, Enforced: true}
	if err := a.Begin(ctx, &call); err != nil {
		t.Fatal(err)
	}
	// Committed before Begin returns.
	if got, err := QueryAll(ctx, a.Reader(), Filter{ID: call.ID}); err != nil || len(got) != 1 || !got[0].TimeEnd.IsZero() {
		t.Fatalf("after Begin: %+v, %v", got, err)
	}
	call.Status, call.BytesSent, call.BytesReceived = 200, 10, 20
	a.End(&call)
	denied := Record{SourceWorkload: "checkout", Host: "evil.example", Decision: vocab.DecisionDeny, Enforced: true, Reason: "policy_denied"}
	if err := a.Complete(ctx, &denied); err != nil {
		t.Fatal(err)
	}
	left := Record{SourceWorkload: "billing", Host: "api.github.com", Decision: vocab.DecisionAllow, Enforced: true}
	if err := a.Begin(ctx, &left); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}

	a, err = Open(ctx, opts) // closes left with gateway_restart
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	got, err := QueryAll(ctx, a.Reader(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{left.ID, denied.ID, call.ID}; !slices.Equal(ids(got), want) {
		t.Fatalf("records %v, want %v", ids(got), want)
	}
	byID := map[string]Record{}
	for _, r := range got {
		byID[r.ID] = r
	}
	if r := byID[call.ID]; r.Status != 200 || r.TimeEnd.IsZero() || r.Host != "api.stripe.com" || r.Meter != "charge" ||
		r.Cost != 0.002 || r.Currency != "USD" || r.Seq != 1 || r.Gateway != "gw-pg" || r.BytesReceived != 20 {
		t.Errorf("ended call: %+v", r)
	}
	if r := byID[denied.ID]; r.Reason != "policy_denied" || r.Decision != vocab.DecisionDeny || r.TimeEnd.IsZero() || r.Seq != 2 {
		t.Errorf("denial: %+v", r)
	}
	if r := byID[left.ID]; r.Error != ErrorGatewayRestart || r.TimeEnd.IsZero() {
		t.Errorf("call left open: %+v", r)
	}
	// seq continues.
	next := Record{Host: "api.github.com", Decision: vocab.DecisionAllow, Enforced: true}
	if err := a.Complete(ctx, &next); err != nil {
		t.Fatal(err)
	}
	if next.Seq != 4 {
		t.Errorf("seq after reopen: %d, want 4", next.Seq)
	}
	rows, err := a.Reader().Cost(ctx, CostQuery{By: []string{"source"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || rows[0].Source != "checkout" || rows[0].Cost != 0.002 {
		t.Errorf("cost: %+v", rows)
	}
}

// The PostgreSQL cost rollup (cost_hourly, added with each outcome) gives
// what aggregating the records gives, for ranges that are whole hours,
// split hours and open ends; pruning keeps it whole for the hours left.
func TestPostgresCostRollupMatchesRecords(t *testing.T) {
	ctx := context.Background()
	st, err := OpenStore(ctx, pgTestURL(t), StoreOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := st.(*pgStore)
	// 300 calls over 50 hours: begun and ended in separate batches, whole
	// records, denials (enforced, so free) and report-mode denials.
	var open []*Record
	for i := 0; i < 300; i++ {
		r := confRecord("gw1", i+1, time.Duration(i)*10*time.Minute+time.Duration(i%7)*time.Second)
		r.Host = fmt.Sprintf("api%d.example.com", i%3)
		r.Cost = float64(i%5) * 0.1
		switch i % 4 {
		case 0: // Begin, End later
			if err := s.Write(ctx, &Batch{Inserts: []*Record{r}}); err != nil {
				t.Fatal(err)
			}
			open = append(open, r)
		case 1: // whole
			if err := s.Write(ctx, &Batch{Inserts: []*Record{end(r, 200)}}); err != nil {
				t.Fatal(err)
			}
		case 2: // enforced denial: not a cost
			r.Decision, r.Enforced, r.Reason = vocab.DecisionDeny, true, "policy_denied"
			if err := s.Write(ctx, &Batch{Inserts: []*Record{end(r, 403)}}); err != nil {
				t.Fatal(err)
			}
		case 3: // report mode: went out, costs
			r.Decision, r.Enforced = vocab.DecisionDeny, false
			if err := s.Write(ctx, &Batch{Inserts: []*Record{end(r, 200)}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, r := range open {
		cost := r.Cost
		end(r, 200)
		r.Cost = cost
	}
	if err := s.Write(ctx, &Batch{Outcomes: open}); err != nil {
		t.Fatal(err)
	}
	// recordsCost is the report aggregated from the records alone.
	recordsCost := func(q CostQuery) []CostRow {
		t.Helper()
		var want []CostRow
		query, args := pgCostSQL(q.By, q.Since, q.Until)
		if err := s.costRows(ctx, q.By, query, args, false, func(row CostRow) { want = append(want, row) }); err != nil {
			t.Fatal(err)
		}
		sortCost(want)
		return want
	}
	by := []string{"source", "destination", "meter"}
	for _, rng := range [][2]time.Time{
		{},
		{confTime.Add(7*time.Hour + 17*time.Minute), time.Time{}},
		{confTime.Add(3*time.Hour + 30*time.Minute), confTime.Add(41 * time.Hour)},
		{confTime.Add(5 * time.Hour), confTime.Add(9 * time.Hour)},
		{confTime.Add(10*time.Hour + time.Minute), confTime.Add(10*time.Hour + 40*time.Minute)},
		{time.Time{}, confTime.Add(20*time.Hour + 5*time.Minute)},
	} {
		q := CostQuery{Since: rng[0], Until: rng[1], By: by}
		got, err := s.Cost(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want := recordsCost(q)
		if len(want) == 0 && rng == [2]time.Time{} {
			t.Fatalf("before prune %v: no records to report", rng)
		}
		compareCost(t, fmt.Sprintf("before prune %v", rng), got, want)
	}
	// Prune everything before hour 12:30: cost_hourly keeps hour 12 whole,
	// so ranges from hour 13 on still match the records.
	cut := confTime.Add(12*time.Hour + 30*time.Minute)
	for {
		n, err := s.Prune(ctx, cut, 50)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	q := CostQuery{Since: confTime.Add(13 * time.Hour), By: []string{"destination"}}
	got, err := s.Cost(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	want := recordsCost(q)
	if len(got) != len(want) || len(got) == 0 {
		t.Fatalf("after prune: rollup %+v\nrecords %+v", got, want)
	}
	for i := range got {
		if got[i].Calls != want[i].Calls || got[i].Bytes != want[i].Bytes {
			t.Errorf("after prune row %d: rollup %+v, records %+v", i, got[i], want[i])
		}
	}
	var hours int
	if err := s.r.QueryRow(ctx, "SELECT count(*) FROM cost_hourly WHERE hour < $1", confTime.Add(12*time.Hour)).Scan(&hours); err != nil || hours != 0 {
		t.Errorf("cost_hourly rows before the cut's hour: %d (%v), want 0", hours, err)
	}
}

// The PostgreSQL server restarting under a gateway is the audit failure
// contract at work: while it is down Begin fails (on_failure deny refuses
// the call) and Ready reports it; when it is back the pool reconnects,
// Ready clears by itself and records are written again, outcomes kept
// meanwhile included.
func TestPostgresServerRestart(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	url, err := srv.NewDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Open(ctx, Options{
		Config:        config.Audit{Store: url, OnFailure: "deny"},
		Gateway:       "gw-pg",
		Logger:        quiet,
		ProbeInterval: 20 * time.Millisecond,
		BusyTimeout:   500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	before := sample(1)
	if err := a.Begin(ctx, before); err != nil {
		t.Fatal(err)
	}
	var during *Record
	if err := srv.Restart(func() {
		during = sample(2)
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := a.Begin(bctx, during); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Begin with the server down: %v, want ErrUnavailable", err)
		}
		if a.Ready() == nil {
			t.Error("Ready with the server down: nil")
		}
		before.Status = 200
		a.End(before) // kept until the store is back
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Ready after the restart", func() bool { return a.Ready() == nil })
	after := sample(3)
	if err := a.Begin(ctx, after); err != nil {
		t.Fatalf("Begin after the restart: %v", err)
	}
	r, err := OpenReader(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	eventually(t, "the outcome kept while down", func() bool {
		got, err := QueryAll(ctx, r, Filter{ID: before.ID})
		return err == nil && len(got) == 1 && got[0].Status == 200
	})
	got, err := QueryAll(ctx, r, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Errorf("%d records, want 2 (the refused call has none): %v", len(got), ids(got))
	}
}
