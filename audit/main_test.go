package audit_test

import (
	"os"
	"testing"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/sqlite"
	"github.com/sluicehq/sluice/internal/config"
)

// testStores are the stores the Auditor's tests open: SQLite.
var testStores = func() *audit.Stores {
	s := &audit.Stores{}
	s.Register(sqlite.Driver())
	return s
}()

func testAuditConfig(path string) config.Audit {
	return config.Audit{Store: "sqlite://" + path, OnFailure: "deny"}
}

func damageFile(t *testing.T, path string, fn func([]byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fn(data), 0o640); err != nil {
		t.Fatal(err)
	}
}
