// Package audit records every outbound call durably (docs/contract.md §8):
// the decision part is committed before the gateway dials, the outcome when
// the call ends. Auditors query the records with `sluice audit query`, the
// admin API, or plain SQL.
package audit

import (
	"time"

	"github.com/sluicehq/sluice/internal/vocab"
)

// EventDNSQuery and DecisionDeny are internal/vocab's names, kept only
// because dnsproxy's tests still spell them audit.*; everything else uses
// internal/vocab.
const (
	EventDNSQuery = vocab.EventDNSQuery
	DecisionDeny  = vocab.DecisionDeny
)

// Record is one audit record: one per HTTP request, one per tunnel, one
// per denied DNS query. The fields are the contract of docs/contract.md §8;
// their JSON names are the column names.
type Record struct {
	ID        string    `json:"id"`      // sortable and unique, assigned by the Auditor
	Seq       uint64    `json:"seq"`     // per gateway instance, assigned by the Auditor
	Gateway   string    `json:"gateway"` // instance id, assigned by the Auditor
	TimeStart time.Time `json:"time_start"`
	TimeEnd   time.Time `json:"time_end,omitzero"`
	// DurationMS is set from TimeStart and TimeEnd by the Auditor.
	DurationMS float64 `json:"duration_ms"`
	Event      string  `json:"event"` // vocab.Event*

	SourceIdentity string `json:"source_identity"`
	IdentitySource string `json:"identity_source"` // vocab.Identity*
	SourceIP       string `json:"source_ip"`
	SourceWorkload string `json:"source_workload"`

	Listener      string `json:"listener"` // vocab.Listener*
	Kind          string `json:"kind"`     // vocab.Kind*
	Method        string `json:"method"`
	// Host is the canonical destination the data plane computed
	// (internal/canon), or for a DNS name refused as not a host name the
	// name as sent; recorded exactly as given.
	Host          string `json:"host"`
	Port          int    `json:"port"`
	Path          string `json:"path"` // without the query string
	SNI           string `json:"sni"`
	ServiceEntry  string `json:"service_entry"` // namespace/name
	DialedIP      string `json:"dialed_ip"`
	TLSOriginated bool   `json:"tls_originated"`
	TLSVersion    string `json:"tls_version"`

	Decision    string   `json:"decision"` // vocab.Decision*
	Enforced    bool     `json:"enforced"` // false when a denial was only reported
	Reason      string   `json:"reason"` // a vocab.Reason
	PolicyRules []string `json:"policy_rules"`

	Status        int     `json:"status"`
	Error         string  `json:"error"`
	BytesSent     int64   `json:"bytes_sent"`
	BytesReceived int64   `json:"bytes_received"`
	Meter         string  `json:"meter"`
	Cost          float64 `json:"cost"`
	Currency      string  `json:"currency"`
	TraceID       string  `json:"trace_id"`

	// Count folds identical records (a flood of the same denied DNS query
	// from one source) into one; 0 and 1 both mean one.
	Count int `json:"count,omitempty"`

	// rid and gen locate the stored decision row (set when Begin's insert
	// commits) so that End appends the outcome to it; gen tells a row of
	// the store's current file from one of a file since replaced.
	rid int64
	gen uint64
	// ended is set by End: the first outcome of a call is the one kept.
	ended bool
}
