package main

import (
	"context"
	"time"

	"github.com/sluicehq/sluice/audit"
)

// freshWait is how long `audit query` and `cost report` wait for running
// gateways to copy what they acknowledged into the store: the ingester
// writes every IngestDelay (400 ms), so this is many rounds.
const freshWait = 3 * time.Second

// waitFresh waits, up to d, until no running gateway (one whose spool was
// written in the last 2 s) holds records beyond the store's cursor, and
// returns the spools' last status: a running gateway whose Pending is
// not 0 in it is behind by that many records (under steady load it
// always holds a few, acknowledged in the last IngestDelay).
func waitFresh(ctx context.Context, store string, d time.Duration) ([]audit.SpoolStatus, error) {
	start := time.Now()
	running := func(p audit.SpoolStatus) bool { return p.Pending > 0 && start.Sub(p.LastWrite) <= 2*time.Second }
	for {
		sts, err := audit.PendingSpool(ctx, stores(), store)
		if err != nil {
			return sts, err
		}
		behind := false
		for _, p := range sts {
			behind = behind || running(p)
		}
		if !behind || time.Since(start) >= d {
			return sts, nil
		}
		select {
		case <-ctx.Done():
			return sts, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
