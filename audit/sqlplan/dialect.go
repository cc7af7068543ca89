// Package sqlplan is what the SQL stores of audit records share: the
// queries of a Filter and of a cost report, built once for any SQL
// dialect, and the reading of their rows into Records and CostRows, the
// column lists and the migration of the records table. A store brings a
// Dialect (how its SQL names parameters and types, and how values go in
// and come out) and its own write path (docs/contract.md §8).
package sqlplan

import (
	"time"

	"github.com/sluicehq/sluice/audit"
)

// Dialect is what differs between SQL stores.
type Dialect interface {
	// Placeholder is the text of the n-th parameter of a statement
	// (1-based): "?" (SQLite) or "$n" (PostgreSQL).
	Placeholder(n int) string
	// Type is the SQL type of a column of type t.
	Type(t audit.Type) string
	// Zero is the SQL literal of the value a column of type t holds when
	// the record has the zero value, and false when there is none (a
	// column added later is then nullable, and NULL reads as zero).
	Zero(t audit.Type) (string, bool)
	// Arg is the statement argument that stores the field p points to (of
	// type t): what the driver takes for a column of type t.
	Arg(t audit.Type, p any) any
	// ScanDest is a new holder that a result value of a column of type t
	// scans into (NULL included).
	ScanDest(t audit.Type) any
	// Assign stores what a ScanDest holder scanned into the field p
	// points to (of type t).
	Assign(t audit.Type, dest, p any) error
	// ColumnsSQL is a query with one parameter, a table or view name,
	// that returns the names of its columns (none when it does not
	// exist).
	ColumnsSQL() string
}

// PrefixMatcher is a Dialect that says "col starts with p" in a form its
// indexes serve (PostgreSQL: LIKE, which a text_pattern_ops index serves;
// substr, the default, none can).
type PrefixMatcher interface {
	PrefixCond(col, p string, args *Args) string
}

// Args collects the arguments of one statement in the order their
// placeholders appear in its text, and names each placeholder.
type Args struct {
	d    Dialect
	vals []any
}

// NewArgs starts the arguments of a statement in dialect d.
func NewArgs(d Dialect) *Args { return &Args{d: d} }

// Add appends v and returns its placeholder.
func (a *Args) Add(v any) string {
	a.vals = append(a.vals, v)
	return a.d.Placeholder(len(a.vals))
}

// Values are the arguments added, in order.
func (a *Args) Values() []any { return a.vals }

// Time is the argument of a time compared with a Time column: what the
// dialect stores for it.
func (a *Args) Time(t time.Time) string { return a.Add(a.d.Arg(audit.Time, &t)) }
