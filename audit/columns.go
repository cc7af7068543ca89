package audit

import (
	"reflect"
)

// The record schema: every column of a record, once. The stores' tables,
// inserts and scans, the spool's record payload, and the JSON and CSV
// output are all driven by this table, so adding a field to Record is one
// entry here (see audit/README.md, "Adding a field").
//
// Columns are only ever appended, never removed, renamed or reordered:
// the spool payload (codec.go) carries them in this order with their
// count, and a store written by an earlier version gains the new columns
// when it is opened (each store's migration adds what its tables lack).

// Type is how a column's value is kept: the Go type of its Record field
// (what Column.Field points to) and what the stores, the spool and the
// output formats make of it.
type Type uint8

// The column types.
const (
	Text    Type = iota + 1 // string
	Uint                    // uint64 (seq); a 64-bit integer in stores
	Int                     // int, a 32-bit integer in stores (port, status)
	Int64                   // int64 (bytes)
	Count                   // int where 0 means 1: stored and written out as at least 1, omitted from JSON when 0
	Float                   // float64
	Bool                    // bool
	Time                    // time.Time, always set
	OptTime                 // time.Time, zero while unset: NULL in stores, "" in CSV, omitted from JSON
	List                    // []string, a JSON array in stores and CSV
)

// String is the type's name, for messages.
func (t Type) String() string {
	switch t {
	case Text:
		return "text"
	case Uint:
		return "uint"
	case Int:
		return "int"
	case Int64:
		return "int64"
	case Count:
		return "count"
	case Float:
		return "float"
	case Bool:
		return "bool"
	case Time:
		return "time"
	case OptTime:
		return "opt_time"
	case List:
		return "list"
	}
	return "unknown"
}

// Part says which part of a call sets a column (docs/contract.md §8): the
// decision, committed by Begin before the gateway dials; the outcome,
// written by End; or both, when the outcome may change what the decision
// said (the reason of an upstream failure, the SNI seen). Stores that keep
// the two parts apart (SQLite) place columns by it; an open call has the
// zero value in every outcome-only column.
type Part uint8

// The parts.
const (
	PartDecision Part = iota + 1
	PartOutcome
	PartBoth
)

// InDecision reports whether the decision part sets the column.
func (p Part) InDecision() bool { return p == PartDecision || p == PartBoth }

// InOutcome reports whether the outcome part sets the column.
func (p Part) InOutcome() bool { return p == PartOutcome || p == PartBoth }

// Column is one field of the record in all its forms.
type Column struct {
	// Name is the column's name in the stores, JSON and CSV
	// (docs/contract.md §8).
	Name string
	Type Type
	Part Part
	// Field returns a pointer to the column's field of r, of the Go type
	// Type says (*string for Text, *uint64 for Uint, *int for Int and
	// Count, *int64, *float64, *bool, *time.Time, *[]string): the getter
	// and the setter in one, which costs no allocation.
	Field func(r *Record) any
}

// columns is the record schema (see the top of this file). Only read.
var columns = []Column{
	{"id", Text, PartDecision, func(r *Record) any { return &r.ID }},
	{"seq", Uint, PartDecision, func(r *Record) any { return &r.Seq }},
	{"gateway", Text, PartDecision, func(r *Record) any { return &r.Gateway }},
	{"time_start", Time, PartDecision, func(r *Record) any { return &r.TimeStart }},
	{"time_end", OptTime, PartOutcome, func(r *Record) any { return &r.TimeEnd }},
	{"duration_ms", Float, PartOutcome, func(r *Record) any { return &r.DurationMS }},
	{"event", Text, PartDecision, func(r *Record) any { return &r.Event }},
	{"source_identity", Text, PartDecision, func(r *Record) any { return &r.SourceIdentity }},
	{"identity_source", Text, PartDecision, func(r *Record) any { return &r.IdentitySource }},
	{"source_ip", Text, PartDecision, func(r *Record) any { return &r.SourceIP }},
	{"source_workload", Text, PartDecision, func(r *Record) any { return &r.SourceWorkload }},
	{"listener", Text, PartDecision, func(r *Record) any { return &r.Listener }},
	{"kind", Text, PartDecision, func(r *Record) any { return &r.Kind }},
	{"method", Text, PartDecision, func(r *Record) any { return &r.Method }},
	{"host", Text, PartDecision, func(r *Record) any { return &r.Host }},
	{"port", Int, PartDecision, func(r *Record) any { return &r.Port }},
	{"path", Text, PartDecision, func(r *Record) any { return &r.Path }},
	{"sni", Text, PartBoth, func(r *Record) any { return &r.SNI }},
	{"service_entry", Text, PartDecision, func(r *Record) any { return &r.ServiceEntry }},
	{"dialed_ip", Text, PartOutcome, func(r *Record) any { return &r.DialedIP }},
	{"tls_originated", Bool, PartBoth, func(r *Record) any { return &r.TLSOriginated }},
	{"tls_version", Text, PartOutcome, func(r *Record) any { return &r.TLSVersion }},
	{"decision", Text, PartDecision, func(r *Record) any { return &r.Decision }},
	{"enforced", Bool, PartDecision, func(r *Record) any { return &r.Enforced }},
	{"reason", Text, PartBoth, func(r *Record) any { return &r.Reason }},
	{"policy_rules", List, PartDecision, func(r *Record) any { return &r.PolicyRules }},
	{"status", Int, PartOutcome, func(r *Record) any { return &r.Status }},
	{"error", Text, PartOutcome, func(r *Record) any { return &r.Error }},
	{"bytes_sent", Int64, PartOutcome, func(r *Record) any { return &r.BytesSent }},
	{"bytes_received", Int64, PartOutcome, func(r *Record) any { return &r.BytesReceived }},
	{"meter", Text, PartOutcome, func(r *Record) any { return &r.Meter }},
	{"cost", Float, PartOutcome, func(r *Record) any { return &r.Cost }},
	{"currency", Text, PartOutcome, func(r *Record) any { return &r.Currency }},
	{"trace_id", Text, PartBoth, func(r *Record) any { return &r.TraceID }},
	{"count", Count, PartDecision, func(r *Record) any { return &r.Count }},
	{"route", Text, PartOutcome, func(r *Record) any { return &r.Route }},
	{"subset", Text, PartOutcome, func(r *Record) any { return &r.Subset }},
	{"attempts", Int, PartOutcome, func(r *Record) any { return &r.Attempts }},
}

// Schema returns the record schema, in column order: the order of the
// records view, the CSV columns and the spool payload.
func Schema() []Column { return append([]Column(nil), columns...) }

// Columns returns the record column names in view (and CSV) order.
func Columns() []string {
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = c.Name
	}
	return names
}

// ClearOutcome sets every outcome-only column of r to its zero value: what
// a call's row holds while it is open.
func ClearOutcome(r *Record) {
	for i := range columns {
		if c := &columns[i]; c.Part == PartOutcome {
			Zero(c.Field(r))
		}
	}
}

// Zero sets the field p points to (what a Column.Field returns) to its
// zero value.
func Zero(p any) {
	reflect.ValueOf(p).Elem().SetZero()
}
