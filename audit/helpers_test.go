package audit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/vocab"
)

// sample returns a typical allowed call record, i-th of a series.
func sample(i int) *Record {
	return &Record{
		TimeStart:      time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond),
		Event:          vocab.EventOutboundCall,
		SourceIdentity: fmt.Sprintf("spiffe://cluster.local/ns/shop/sa/svc%d", i%20),
		IdentitySource: "mtls",
		SourceIP:       fmt.Sprintf("10.1.%d.%d", i%7, i%250),
		SourceWorkload: fmt.Sprintf("svc%d", i%20),
		Listener:       "proxy",
		Kind:           "http",
		Method:         "POST",
		Host:           fmt.Sprintf("api%d.example.com", i%50),
		Port:           443,
		Path:           "/v1/charges",
		ServiceEntry:   "payments/stripe",
		TLSOriginated:  true,
		Decision:       vocab.DecisionAllow,
		Enforced:       true,
		PolicyRules:    []string{"allow_payments"},
		TraceID:        "4bf92f3577b34da6a3ce929d0e0e4736",
	}
}

// openTestStore opens a fresh SQLite store in a temp dir.
func openTestStore(t testing.TB) (*sqliteStore, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := openSQLite(context.Background(), path, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

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
