package sqlite

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// insertAppended accepts the rids SQLite gives when they are the ones the
// caller expects, and fails when they are not.
func TestInsertAppendedChecksRids(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE t (rid INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	prep := func(n int) *sql.Stmt {
		st, err := db.Prepare("INSERT OR ROLLBACK INTO t (v) VALUES " + valuesSQL(n, 1))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	c := chunkedStmt{one: prep(1), many: prep(insertChunk), width: 1}
	args := func(n int) []any {
		a := make([]any, n)
		for i := range a {
			a[i] = "x"
		}
		return a
	}
	// A chunk and a row beyond it, then two more rows.
	if err := c.insertAppended(t.Context(), insertChunk+1, args(insertChunk+1), 1); err != nil {
		t.Fatal(err)
	}
	if err := c.insertAppended(t.Context(), 2, args(2), insertChunk+2); err != nil {
		t.Fatal(err)
	}
	// The table's rids end elsewhere than the caller thinks.
	err = c.insertAppended(t.Context(), 1, args(1), 1000)
	if err == nil || !strings.Contains(err.Error(), "want 1000") {
		t.Errorf("unexpected rids: %v", err)
	}
}
