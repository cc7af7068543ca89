// Package audit records every outbound call durably (docs/contract.md §8):
// the decision part is committed before the gateway dials, the outcome when
// the call ends. Auditors query the records with `sluice audit query`, the
// admin API, or plain SQL.
package audit

import (
	"time"
)

// Record is one audit record: one per HTTP request, one per tunnel, one
// per denied DNS query. The fields are the contract of docs/contract.md §8.
// Every field is a column of the record schema (columns.go), which names
// it in the stores, the spool, JSON and CSV: add a field there, not only
// here.
type Record struct {
	ID        string // sortable and unique, assigned by the Auditor
	Seq       uint64 // per gateway instance, assigned by the Auditor
	Gateway   string // instance id, assigned by the Auditor
	TimeStart time.Time
	TimeEnd   time.Time // zero while the call is open
	// DurationMS is set from TimeStart and TimeEnd by the Auditor.
	DurationMS float64
	Event      string // vocab.Event*

	SourceIdentity string
	IdentitySource string // vocab.Identity*
	SourceIP       string
	SourceWorkload string

	Listener string // vocab.Listener*
	Kind     string // vocab.Kind*
	Method   string
	// Host is the canonical destination the data plane computed
	// (internal/canon), or for a DNS name refused as not a host name the
	// name as sent; recorded exactly as given.
	Host          string
	Port          int
	Path          string // without the query string
	SNI           string
	ServiceEntry  string // namespace/name
	DialedIP      string
	TLSOriginated bool
	TLSVersion    string

	Decision    string   // vocab.Decision*
	Enforced    bool     // false when a denial was only reported
	Reason      string   // a vocab.Reason
	PolicyRules []string // the policy rules that decided

	Status        int
	Error         string
	BytesSent     int64
	BytesReceived int64
	Meter         string
	Cost          float64
	Currency      string
	TraceID       string

	// Count folds identical records (a flood of the same denied DNS query
	// from one source) into one; 0 and 1 both mean one.
	Count int

	// Route is the VirtualService http rule that routed an HTTP call
	// ("namespace/name#rule"), Subset the DestinationRule subset it went
	// to, Attempts how many tries it took (retries included); empty and
	// 0 when no VirtualService routed the call.
	Route    string
	Subset   string
	Attempts int

	// row locates the stored decision part (set when Begin's insert
	// commits) so that End's outcome finds it without a lookup.
	row RowRef
	// ended is set by End: the first outcome of a call is the one kept.
	ended bool
}

// RowRef is where a store keeps a record's row: Store.Write sets it on
// each record it inserts and OpenRecords on each record it returns, and
// Write uses it to find the row again for the outcome without a lookup.
// Its meaning is the store's own. The zero RowRef is unknown: the store
// then finds the row by ID, or writes the whole record when it has none.
type RowRef struct {
	// ID is the row's key in the store (SQLite's and PostgreSQL's rid).
	ID int64
	// Gen is the store's generation when the row was written: a store
	// whose file was replaced since moves to another generation and
	// treats the RowRefs of an older one as unknown.
	Gen uint64
}

// Row is where the store keeps r's row (see RowRef).
func (r *Record) Row() RowRef { return r.row }

// SetRow records where the store keeps r's row; stores call it.
func (r *Record) SetRow(ref RowRef) { r.row = ref }

// Source is how a record's caller is shown: the workload, else the
// identity, else the IP.
func (r *Record) Source() string {
	switch {
	case r.SourceWorkload != "":
		return r.SourceWorkload
	case r.SourceIdentity != "":
		return r.SourceIdentity
	default:
		return r.SourceIP
	}
}

// Calls is the number of calls the record stands for: Count, where 0
// means one.
func (r *Record) Calls() int {
	return max(r.Count, 1)
}
