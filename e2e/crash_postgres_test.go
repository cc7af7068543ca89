package e2e

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/pgtest"
)

// kill -9 mid-load with the records in PostgreSQL (no spool: Begin
// returns once PostgreSQL has committed the decision part): after the
// restart every request id the upstream saw has a record, and the calls
// whose outcome never arrived are closed as gateway_restart, within the
// same bounds as with SQLite. Both the restarted gateway's admin API and
// `sluice audit query --store postgres://…` see them.
func TestCrashKeepsEveryRecordInPostgreSQL(t *testing.T) {
	srv := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := srv.NewDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	run := crashUnderLoad(t, crashOpts{config: fmt.Sprintf("audit: {store: %q}\n", db)})
	run.g.Restart()
	checkEveryIDRecorded(t, run, records(t, run.g, url.Values{"limit": {"1000000"}}))
	recs, _ := queryRecords(t, run.g, "--store", db)
	checkEveryIDRecorded(t, run, recs)
}
