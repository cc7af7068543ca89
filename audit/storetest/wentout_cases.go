package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/vocab"
)

// caseCostCountsWhatWentOut: a call that failed before reaching an
// upstream (a failure reason, no dialed_ip) is not in the cost report,
// whether the report reads the records or the hourly rollup.
func caseCostCountsWhatWentOut(t *testing.T, s audit.Store, _ func() (audit.Store, error)) {
	ctx := context.Background()
	ok := Ended(Numbered("gwo", 1, time.Minute), 200)
	failed := Ended(Numbered("gwo", 2, 2*time.Minute), 0)
	failed.Reason, failed.DialedIP, failed.BytesSent, failed.BytesReceived, failed.Cost = string(vocab.DNSFailure), "", 0, 0, 0
	cut := Ended(Numbered("gwo", 3, 3*time.Minute), 0) // reached the upstream, which went away: it went out
	cut.Reason = string(vocab.UpstreamUnreachable)
	if err := s.Write(ctx, &audit.Batch{Inserts: []*audit.Record{ok, failed, cut}}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []audit.CostQuery{
		{Since: T0, Until: T0.Add(time.Hour)},                                     // the rollup's whole hour
		{Since: T0.Add(30 * time.Second), Until: T0.Add(time.Hour - time.Second)}, // the records
	} {
		rows, err := s.Cost(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || rows[0].Calls != 2 {
			t.Errorf("%v–%v: %+v, want 2 calls (the one that never left not counted)", q.Since, q.Until, rows)
		}
	}
}
