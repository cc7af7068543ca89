package sqlite

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/storetest"
)

var quiet = slog.New(slog.DiscardHandler)

// openTestStore opens a fresh store in a temp dir.
func openTestStore(t testing.TB) (*store, string) {
	path := filepath.Join(t.TempDir(), "audit.db")
	return storetest.Open(t, Driver(), "sqlite://"+path, audit.StoreOptions{}).(*store), path
}

// testStores holds the SQLite store only.
func testStores() *audit.Stores { return storetest.Stores(Driver()) }
