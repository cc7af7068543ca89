package audit

import (
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

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

var quiet = slog.New(slog.DiscardHandler)

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// public is r without the bookkeeping of stores and the Auditor, for
// comparisons.
func public(r Record) Record {
	r.row, r.ended = RowRef{}, false
	return r
}
