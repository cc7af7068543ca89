package audit

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		// postgres:// reaches the PostgreSQL store (postgres_test.go runs it
		// against a real server); a malformed URL fails before connecting.
		{"postgres://u@db:port/audit", false, "audit: postgres:"},
		{"postgresql://u@db:port/audit", true, "audit: postgres:"},
		{"mysql://x", false, "must be sqlite://PATH or postgres://"},
		{"sqlite://", false, "empty path"},
		{"sqlite://" + filepath.Join(dir, "missing.db"), true, "no such file"},
		{"sqlite://" + dir, true, "is a directory"},
		{"sqlite://" + dir, false, "is a directory"},
		{"sqlite://" + other, true, "not a Sluice audit store"},
	} {
		_, err := OpenStore(ctx, tc.url, StoreOptions{ReadOnly: tc.readOnly, Logger: quiet})
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s (read-only %v): %v, want %q", tc.url, tc.readOnly, err, tc.err)
		}
	}
	// A read-only store refuses writes.
	s, _ := openTestStore(t)
	r, err := OpenStore(ctx, "sqlite://"+s.path, StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Write(ctx, &Batch{Inserts: []*Record{sample(1)}}); err != ErrReadOnly {
		t.Errorf("Write on a read-only store: %v", err)
	}
}

// The parent directories of a new store are created.
func TestOpenStoreCreatesDirectories(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "audit.db")
	s, err := OpenStore(context.Background(), "sqlite://"+path, StoreOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}
