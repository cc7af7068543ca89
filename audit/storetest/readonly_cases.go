package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
)

func caseReadOnly(t *testing.T, s audit.Store, reopen func() (audit.Store, error)) {
	ctx := context.Background()
	r := Ended(Numbered("gw1", 1, 0), 200)
	if err := s.Write(ctx, &audit.Batch{Inserts: []*audit.Record{r}}); err != nil {
		t.Fatal(err)
	}
	ro, err := reopen()
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.Write(ctx, &audit.Batch{Inserts: []*audit.Record{Numbered("gw1", 2, 0)}}); !errors.Is(err, audit.ErrReadOnly) {
		t.Errorf("Write: %v", err)
	}
	if _, err := ro.Prune(ctx, T0.Add(time.Hour), 10); !errors.Is(err, audit.ErrReadOnly) {
		t.Errorf("Prune: %v", err)
	}
	if err := ro.Check(ctx); !errors.Is(err, audit.ErrReadOnly) {
		t.Errorf("Check: %v", err)
	}
	got, err := audit.QueryAll(ctx, ro, audit.Filter{})
	if err != nil || len(got) != 1 || !reflect.DeepEqual(Public(got[0]), Public(*r)) {
		t.Errorf("query read-only: %+v, %v", got, err)
	}
	if _, err := ro.Cost(ctx, audit.CostQuery{}); err != nil {
		t.Errorf("cost read-only: %v", err)
	}
}

// caseKeepsNothing is the whole contract of a store that discards: every
// write succeeds, every query finds nothing.
func caseKeepsNothing(t *testing.T, s audit.Store) {
	ctx := context.Background()
	r := Ended(Numbered("gw1", 1, 0), 200)
	if err := s.Write(ctx, &audit.Batch{Inserts: []*audit.Record{r, Numbered("gw1", 2, 0)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := audit.QueryAll(ctx, s, audit.Filter{}); err != nil || len(got) != 0 {
		t.Errorf("query: %v, %v", IDs(got), err)
	}
	if open, err := s.OpenRecords(ctx, "gw1"); err != nil || len(open) != 0 {
		t.Errorf("open records: %v, %v", IDs(open), err)
	}
	if seq, err := s.LastSeq(ctx, "gw1"); err != nil || seq != 0 {
		t.Errorf("LastSeq: %d, %v", seq, err)
	}
	if n, err := s.Prune(ctx, T0.Add(time.Hour), 10); err != nil || n != 0 {
		t.Errorf("Prune: %d, %v", n, err)
	}
	if rows, err := s.Cost(ctx, audit.CostQuery{}); err != nil || len(rows) != 0 {
		t.Errorf("Cost: %v, %v", rows, err)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
}
