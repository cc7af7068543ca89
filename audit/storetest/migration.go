package storetest

import (
	"context"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
)

// A store's migration test opens a store written by the first schema's
// code (a file or database made then: audit/sqlite/testdata,
// audit/postgres/testdata) with the record schema plus ExtraColumns, as
// if they had been added to the table since: opened for writing the
// store gains them and its old rows read them as zero (WithoutExtra);
// opened read-only, not migrated, it reads them as zero too; new records
// keep them (CheckNewRecords).

// ExtraColumns stand for columns added to the record schema later: one
// the decision part sets, one the outcome part, an optional time. They
// store fields that have columns already, which is all a test needs: a
// column reads back into the field it stores (the later one wins).
var ExtraColumns = []audit.Column{
	{Name: "x_decision", Type: audit.Text, Part: audit.PartDecision, Field: func(r *audit.Record) any { return &r.ServiceEntry }},
	{Name: "x_outcome", Type: audit.Int64, Part: audit.PartOutcome, Field: func(r *audit.Record) any { return &r.BytesSent }},
	{Name: "x_time", Type: audit.OptTime, Part: audit.PartOutcome, Field: func(r *audit.Record) any { return &r.TimeEnd }},
}

// WithExtra is the record schema with ExtraColumns.
func WithExtra() []audit.Column { return append(audit.Schema(), ExtraColumns...) }

// WithoutExtra is r as a store written before ExtraColumns existed reads
// it with them: their fields zero.
func WithoutExtra(r audit.Record) audit.Record {
	r.ServiceEntry, r.BytesSent, r.TimeEnd = "", 0, time.Time{}
	return r
}

// CheckRecords fails t unless s holds exactly the records of want, each
// as as makes it (nil: as it is).
func CheckRecords(t *testing.T, s audit.Reader, want map[string]audit.Record, as func(audit.Record) audit.Record) {
	t.Helper()
	got, err := audit.QueryAll(context.Background(), s, audit.Filter{})
	if err != nil || len(got) != len(want) {
		t.Fatalf("%d records (%v), want %d", len(got), err, len(want))
	}
	for _, r := range got {
		w := want[r.ID]
		if as != nil {
			w = as(w)
		}
		if !reflect.DeepEqual(Public(r), w) {
			t.Errorf("%s:\n got %+v\nwant %+v", r.ID, Public(r), w)
		}
	}
}

// CheckNewRecords writes a whole record and an open one of gateway gw
// into s (records gw-0900 and gw-0901) and fails t unless both read back
// with every column.
func CheckNewRecords(t *testing.T, s audit.Store, gw string) {
	t.Helper()
	ctx := context.Background()
	whole := Ended(Numbered(gw, 900, time.Hour), 200)
	open := Numbered(gw, 901, time.Hour+time.Second)
	if err := s.Write(ctx, &audit.Batch{Inserts: []*audit.Record{whole, open}}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*audit.Record{whole, open} {
		got, err := audit.QueryAll(ctx, s, audit.Filter{ID: w.ID})
		if err != nil || len(got) != 1 || !reflect.DeepEqual(Public(got[0]), Public(*w)) {
			t.Errorf("a new record: %+v %v, want %+v", got, err, *w)
		}
	}
}

// Stores is a set of one store, for its own tests.
func Stores(d audit.Driver) *audit.Stores {
	s := &audit.Stores{}
	s.Register(d)
	return s
}

// Open opens the store at url with d, logging nowhere unless opts says,
// and closes it when the test ends.
func Open(t testing.TB, d audit.Driver, url string, opts audit.StoreOptions) audit.Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := d.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Eventually polls cond until it holds, for up to 5 s, and fails t
// naming what it waited for.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
