package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/storetest"
)

func TestOpenStoreErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE t (a)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, tc := range []struct {
		url      string
		readOnly bool
		err      string
	}{
		{"mysql://x", false, "must be sqlite://PATH"},
		{"sqlite://", false, "empty path"},
		{"sqlite://" + filepath.Join(dir, "missing.db"), true, "no such file"},
		{"sqlite://" + dir, true, "is a directory"},
		{"sqlite://" + dir, false, "is a directory"},
		{"sqlite://" + other, true, "not a Sluice audit store"},
	} {
		_, err := testStores().Open(ctx, tc.url, audit.StoreOptions{ReadOnly: tc.readOnly, Logger: quiet})
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s (read-only %v): %v, want %q", tc.url, tc.readOnly, err, tc.err)
		}
	}
	// A read-only store refuses writes.
	s, _ := openTestStore(t)
	r, err := testStores().Open(ctx, "sqlite://"+s.path, audit.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Write(ctx, &audit.Batch{Inserts: []*audit.Record{storetest.Sample(1)}}); err != audit.ErrReadOnly {
		t.Errorf("Write on a read-only store: %v", err)
	}
}

// The parent directories of a new store are created.
func TestOpenStoreCreatesDirectories(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "audit.db")
	s, err := testStores().Open(context.Background(), "sqlite://"+path, audit.StoreOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}
