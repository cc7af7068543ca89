package storetest

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
)

func caseWrite(t *testing.T, s audit.Store, _ func() (audit.Store, error)) {
	ctx := context.Background()
	a := Numbered("gw1", 1, 0)
	b := Numbered("gw1", 2, time.Millisecond)
	c := Ended(Numbered("gw1", 3, 2*time.Millisecond), 201)
	c.PolicyRules = []string{"allow \"quoted\"", "second"}
	d := Numbered("gw2", 7, 3*time.Millisecond)
	if err := s.Write(ctx, &audit.Batch{Inserts: []*audit.Record{a, b, c, d}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*audit.Record{a, b, c, d} {
		if r.Row() == (audit.RowRef{}) {
			t.Errorf("%s: no RowRef after Write", r.ID)
		}
	}
	open, err := s.OpenRecords(ctx, "gw1")
	if err != nil {
		t.Fatal(err)
	}
	if got := IDs(open); !slices.Equal(got, []string{a.ID, b.ID}) {
		t.Fatalf("open gw1: %v", got)
	}
	if !reflect.DeepEqual(Public(open[0]), Public(*a)) {
		t.Errorf("open record:\n got %+v\nwant %+v", Public(open[0]), Public(*a))
	}
	// Outcomes: a by rid, b by ID only, e never inserted (whole record).
	ao := Ended(new(*a), 200)
	bo := Ended(new(*b), 502)
	bo.SetRow(audit.RowRef{})
	bo.Reason, bo.Error = "upstream_error", "connection reset"
	e := Ended(Numbered("gw1", 9, 4*time.Millisecond), 204)
	if err := s.Write(ctx, &audit.Batch{Outcomes: []*audit.Record{ao, bo, e}}); err != nil {
		t.Fatal(err)
	}
	for gw, want := range map[string][]string{"gw1": nil, "gw2": {d.ID}, "gw3": nil} {
		open, err := s.OpenRecords(ctx, gw)
		if err != nil {
			t.Fatal(err)
		}
		if got := IDs(open); !slices.Equal(got, want) {
			t.Errorf("open %s: %v, want %v", gw, got, want)
		}
	}
	for gw, want := range map[string]uint64{"gw1": 9, "gw2": 7, "gw3": 0} {
		if got, err := s.LastSeq(ctx, gw); err != nil || got != want {
			t.Errorf("LastSeq(%s) = %d, %v; want %d", gw, got, err, want)
		}
	}
	all, err := audit.QueryAll(ctx, s, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []*audit.Record{e, d, c, bo, ao}
	if len(all) != len(want) {
		t.Fatalf("records: %v", IDs(all))
	}
	for i, w := range want {
		if got := Public(all[i]); !reflect.DeepEqual(got, Public(*w)) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, got, Public(*w))
		}
	}
	// A Check is a probe write.
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// caseRowRefs: an outcome finds its row by the RowRef its insert got, by
// ID when the RowRef is unknown, and is written whole when the row is not
// there; a RowRef of another generation (a replaced file) is not trusted.
func caseRowRefs(t *testing.T, s audit.Store, _ func() (audit.Store, error)) {
	ctx := context.Background()
	a, b := Numbered("gw1", 1, 0), Numbered("gw1", 2, time.Millisecond)
	if err := s.Write(ctx, &audit.Batch{Inserts: []*audit.Record{a, b}}); err != nil {
		t.Fatal(err)
	}
	if a.Row() == b.Row() {
		t.Fatalf("two records share RowRef %+v", a.Row())
	}
	ao := Ended(new(*a), 200)
	bo := Ended(new(*b), 201)
	stale := b.Row()
	stale.Gen += 1000 // a file since replaced: found by ID instead
	bo.SetRow(stale)
	if err := s.Write(ctx, &audit.Batch{Outcomes: []*audit.Record{ao, bo}}); err != nil {
		t.Fatal(err)
	}
	all, err := audit.QueryAll(ctx, s, audit.Filter{})
	if err != nil || len(all) != 2 {
		t.Fatalf("records %v, %v", IDs(all), err)
	}
	for _, r := range all {
		if r.TimeEnd.IsZero() || r.Status < 200 {
			t.Errorf("%s: outcome not in its row: %+v", r.ID, r)
		}
	}
	if open, err := s.OpenRecords(ctx, "gw1"); err != nil || len(open) != 0 {
		t.Errorf("open after the outcomes: %v, %v", IDs(open), err)
	}
}
