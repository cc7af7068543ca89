// Package sqlite is the default audit store (docs/contract.md §8): one
// SQLite file in WAL mode with synchronous=FULL, written by one
// connection, read by a pool that never blocks it, behind the spool
// (audit/spool) at PATH.spool. See README.md.
package sqlite

import (
	"context"
	"errors"
	"strings"

	"github.com/sluicehq/sluice/audit"
)

// scheme is the URL scheme of the store: sqlite://PATH.
const scheme = "sqlite://"

// Driver is the SQLite store for audit.Stores: sqlite://PATH, the path
// relative to the working directory (`sluice serve` resolves it against
// the config file's), parent directories created; its gateways' spools
// are at PATH.spool.
func Driver() audit.Driver {
	return audit.Driver{
		Schemes: []string{"sqlite"},
		Form:    "sqlite://PATH",
		Open: func(ctx context.Context, url string, opts audit.StoreOptions) (audit.Store, error) {
			return openSQLite(ctx, strings.TrimPrefix(url, scheme), opts)
		},
		SpoolDir: func(url string) string { return strings.TrimPrefix(url, scheme) + ".spool" },
		Check:    checkURL,
	}
}

// checkURL refuses a URL without a path.
func checkURL(url string) error {
	if strings.TrimPrefix(url, scheme) == "" {
		return errors.New("empty path (use sqlite://data/audit.db)")
	}
	return nil
}
