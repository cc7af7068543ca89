package audit_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/storetest"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/telemetry"
)

// The metrics appear on /metrics under the contract's Prometheus names.
func TestMetricsOnPrometheus(t *testing.T) {
	m, err := telemetry.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	url := "sqlite://" + filepath.Join(t.TempDir(), "audit.db")
	real, err := testStores.Open(context.Background(), url, audit.StoreOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ws := &wrapStore{Store: real}
	a, err := audit.Open(context.Background(), audit.Options{Stores: testStores, Config: config.Audit{Store: url}, Gateway: "gw", Logger: quiet,
		MeterProvider: m.MeterProvider(), Store: ws})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	for i := range 3 {
		if err := a.Begin(context.Background(), storetest.Sample(i)); err != nil {
			t.Fatal(err)
		}
	}
	ws.setFail(errors.New("disk full"))
	_ = a.Begin(context.Background(), storetest.Sample(9))
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		"sluice_audit_write_errors_total ",
		`sluice_audit_batch_size_bucket{le="1"} 3`,
		"sluice_audit_batch_size_count 3",
		"sluice_audit_commit_duration_seconds_bucket",
		"sluice_audit_queue_depth 0",
		"sluice_audit_store_ready 0",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("missing %q in:\n%s", want, body)
		}
	}
}
