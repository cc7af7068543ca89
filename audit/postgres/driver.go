// Package postgres keeps audit records in PostgreSQL (docs/contract.md
// §8), for replicas that share one store: one row per record, inserted by
// Begin and updated by End, each batch one transaction committed with
// synchronous_commit=on. Records are committed to it directly (no spool).
// See README.md.
package postgres

import (
	"context"

	"github.com/sluicehq/sluice/audit"
)

// Driver is the PostgreSQL store for audit.Stores:
// postgres://user@host/db or postgresql://…, with any parameter pgx and
// libpq accept (sslmode, connect_timeout, search_path…). The schema is
// created when opened for writing.
func Driver() audit.Driver {
	return audit.Driver{
		Schemes: []string{"postgres", "postgresql"},
		Form:    "postgres://USER@HOST/DB",
		Open: func(ctx context.Context, url string, opts audit.StoreOptions) (audit.Store, error) {
			return openPostgres(ctx, url, opts)
		},
	}
}
