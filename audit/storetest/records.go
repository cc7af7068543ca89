package storetest

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/vocab"
)

// Identities of the sample callers.
const (
	IDCheckout = "spiffe://cluster.local/ns/shop/sa/checkout"
	IDBilling  = "spiffe://cluster.local/ns/shop/sa/billing"
)

// T0 is the sample records' epoch: millisecond-aligned (SQLite keeps
// milliseconds).
var T0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// Sample returns a typical allowed call's decision part, the i-th of a
// series (varied source, host and time); ID, Seq and Gateway are left to
// the Auditor.
func Sample(i int) *audit.Record {
	return &audit.Record{
		TimeStart:      T0.Add(time.Duration(i) * time.Millisecond),
		Event:          vocab.EventOutboundCall,
		SourceIdentity: fmt.Sprintf("spiffe://cluster.local/ns/shop/sa/svc%d", i%20),
		IdentitySource: vocab.IdentityMTLS,
		SourceIP:       fmt.Sprintf("10.1.%d.%d", i%7, i%250),
		SourceWorkload: fmt.Sprintf("svc%d", i%20),
		Listener:       vocab.ListenerProxy,
		Kind:           vocab.KindHTTP,
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

// Numbered is Sample(n) as gateway gw's record n (ID gw-000n, seq n),
// starting at T0 + at.
func Numbered(gw string, n int, at time.Duration) *audit.Record {
	r := Sample(n)
	r.ID = fmt.Sprintf("%s-%04d", gw, n)
	r.Seq = uint64(n)
	r.Gateway = gw
	r.TimeStart = T0.Add(at)
	r.Count = 1
	return r
}

// Ended gives r an outcome with status (2 ms after it started), and
// returns it.
func Ended(r *audit.Record, status int) *audit.Record {
	r.TimeEnd = r.TimeStart.Add(2 * time.Millisecond)
	r.DurationMS = 1.5
	r.Status, r.BytesSent, r.BytesReceived = status, 100, 2000
	r.DialedIP, r.TLSVersion, r.SNI = "192.0.2.1", "TLS1.3", r.Host
	r.Meter, r.Cost, r.Currency = "charge", 0.25, "USD"
	return r
}

// Public is r without the store's bookkeeping (its RowRef), for
// comparisons.
func Public(r audit.Record) audit.Record {
	r.SetRow(audit.RowRef{})
	return r
}

// IDs lists the IDs of recs.
func IDs(recs []audit.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}
