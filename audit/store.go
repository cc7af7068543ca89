package audit

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/audit/spool"
)

// Batch is what the writer commits in one transaction: new records (the
// decision part of a call begun with Begin, or a whole record from
// Complete) and outcomes of records inserted earlier.
type Batch struct {
	// Inserts are new records: with a zero TimeEnd the decision part of a
	// call begun (open until its outcome arrives), else a whole record.
	// After a successful Write each knows where it is stored (Row).
	Inserts []*Record
	// Outcomes are the outcomes of records inserted earlier, found where
	// their Begin stored them (Row) or by ID. A store writes the whole
	// record when it has no row with that ID (its Begin failed, or the
	// store file was replaced since), so no outcome is lost.
	Outcomes []*Record

	// Cursor, when set, is how far this batch brings the store through a
	// gateway's spool: a SpoolStore commits it in the same transaction as
	// the rows, so a restart replays exactly what the store lacks. Other
	// stores ignore it.
	Cursor *SpoolCursor
}

// Len is the number of rows in the batch.
func (b *Batch) Len() int { return len(b.Inserts) + len(b.Outcomes) }

// SpoolCursor is how far a gateway's spool has reached the store: the
// position just after the last entry ingested.
type SpoolCursor struct {
	Gateway string
	Pos     spool.Pos
}

// Reader answers queries. Readers never block the writer.
type Reader interface {
	// Query calls fn for each record that matches f, newest first,
	// streaming (an export of millions of records does not sit in
	// memory). An error from fn stops the query and is returned.
	Query(ctx context.Context, f Filter, fn func(*Record) error) error
	// Cost aggregates calls, bytes and cost of the calls that went out
	// (allowed, or denied in report mode) and have ended, started within
	// q's range, grouped by q.By.
	Cost(ctx context.Context, q CostQuery) ([]CostRow, error)
	// Close releases the reader.
	Close() error
}

// Store is where records live (docs/contract.md §8). The Auditor calls
// the write methods from a single goroutine. A store is a package of its
// own registered in Stores (audit/sqlite, audit/postgres, audit/discard);
// audit/storetest is the suite every store passes.
type Store interface {
	Reader
	// Write commits b durably in one transaction: when it returns nil,
	// every row of b survives a crash (kill -9, power loss), and each of
	// b.Inserts has its Row set.
	Write(ctx context.Context, b *Batch) error
	// LastSeq is the highest seq ever written for gateway (0 if none);
	// it survives retention.
	LastSeq(ctx context.Context, gateway string) (uint64, error)
	// OpenRecords returns gateway's records whose outcome never arrived,
	// with their Row set.
	OpenRecords(ctx context.Context, gateway string) ([]Record, error)
	// Prune deletes up to limit records that started before before and
	// returns how many it deleted.
	Prune(ctx context.Context, before time.Time, limit int) (int, error)
	// Check reports whether the store can commit now (a probe write). It
	// reopens the store when its file was removed or replaced.
	Check(ctx context.Context) error
}

// SpoolStore is a store that can sit behind the spool (audit/spool): it
// keeps, with the rows, how far each gateway's spool has reached it
// (Batch.Cursor), so that a restart replays exactly what it lacks. The
// Auditor commits through a spool only to such a store (see
// Driver.SpoolDir).
type SpoolStore interface {
	Store
	// SpoolCursor is how far gateway's spool has reached the store (the
	// zero Pos for none).
	SpoolCursor(ctx context.Context, gateway string) (spool.Pos, error)
	// SpoolCursors is every gateway's cursor; it works on a store opened
	// read-only (`sluice audit query` tells what spools still hold).
	SpoolCursors(ctx context.Context) (map[string]spool.Pos, error)
}

// IdentifiedStore is a store whose file has an id, so that the spool's
// high-water mark can tell a replaced file from the same one.
type IdentifiedStore interface {
	// StoreID is the file's id ("" before it is open).
	StoreID() string
	// Location names the file in messages.
	Location() string
}

// Errors callers can test with errors.Is.
var (
	// ErrUnavailable means the store cannot commit: with
	// audit.on_failure=deny the call is refused (503 audit_unavailable).
	ErrUnavailable = errors.New("audit store unavailable")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("audit: auditor closed")
	// ErrReadOnly is returned by the write methods of a store opened for
	// queries.
	ErrReadOnly = errors.New("audit: store opened read-only")
	// ErrStoreDamaged means the store file is damaged, or is behind what
	// this gateway had committed to it (truncated, replaced, restored
	// from an older copy). The gateway refuses to start on it rather than
	// serve it as healthy; the error says which file and what to do.
	ErrStoreDamaged = errors.New("audit store damaged")
)

// DefaultIntegrityTimeout bounds the integrity check a store may run when
// it is opened for writing (StoreOptions.IntegrityTimeout). A check that
// does not finish in time is logged and the store is used unverified: a
// start must not wait minutes on a large file (see audit/README.md for
// what it takes per million records).
const DefaultIntegrityTimeout = 20 * time.Second

// StoreOptions tune a store.
type StoreOptions struct {
	// ReadOnly opens the store for queries only: no writer connection, no
	// schema changes, and a missing store is an error.
	ReadOnly bool
	// BusyTimeout is how long a commit waits for a lock held by another
	// process or session before it fails (default 2s).
	BusyTimeout time.Duration
	// Logger reports what the store repairs (default slog.Default()).
	Logger *slog.Logger
	// IntegrityTimeout bounds the integrity check of an existing store
	// opened for writing, where the store has one (default
	// DefaultIntegrityTimeout; negative: no check). A damaged store is
	// refused with ErrStoreDamaged.
	IntegrityTimeout time.Duration
	// Columns is the record schema the store keeps (default Schema()).
	// Tests extend it to exercise the migration of a store written
	// before a column existed.
	Columns []Column
}

// Defaults fills in the defaults of the zero fields.
func (o *StoreOptions) Defaults() {
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.IntegrityTimeout == 0 {
		o.IntegrityTimeout = DefaultIntegrityTimeout
	}
	if o.Columns == nil {
		o.Columns = Schema()
	}
}

// QueryAll returns the records that match f, newest first.
func QueryAll(ctx context.Context, r Reader, f Filter) ([]Record, error) {
	var out []Record
	err := r.Query(ctx, f, func(rec *Record) error {
		out = append(out, *rec)
		return nil
	})
	return out, err
}
