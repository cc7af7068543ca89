package sqlite

import (
	"testing"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Subject{
		Open: func(t *testing.T) (audit.Store, string) {
			s, path := openTestStore(t)
			return s, "sqlite://" + path
		},
		Driver: Driver(),
	})
}

// The writer connection commits with fsync (WAL, synchronous=FULL).
func TestStoreIsWALWithFullSync(t *testing.T) {
	s, _ := openTestStore(t)
	var mode string
	var sync int
	ctx := t.Context()
	if err := s.conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := s.conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || sync != 2 {
		t.Fatalf("journal_mode %s synchronous %d; want wal 2 (FULL)", mode, sync)
	}
}
