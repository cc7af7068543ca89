package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sluicehq/sluice/audit/spool"
)

// Batch is what the writer commits in one transaction: new records (the
// decision part of a call begun with Begin, or a whole record from
// Complete) and outcomes of records inserted earlier.
type Batch struct {
	// Inserts are new records: with a zero TimeEnd the decision part of a
	// call begun (open until its outcome arrives), else a whole record.
	// After a successful Write each knows where it is stored.
	Inserts []*Record
	// Outcomes are the outcomes of records inserted earlier, found where
	// their Begin stored them or by ID. A store writes the whole record
	// when it has no row with that ID (its Begin failed, or the store
	// file was replaced since), so no outcome is lost.
	Outcomes []*Record

	// cursor, when set, is the spool position this batch brings the store
	// to; a store that keeps it (spoolCursorStore) commits it with the
	// rows, so a restart replays exactly what is missing.
	cursor *spoolCursor
}

// spoolCursor is how far a gateway's spool has reached the store.
type spoolCursor struct {
	gateway string
	pos     spool.Pos
}

// identifiedStore is a store whose file has an id (SQLite's store_meta),
// so the high-water mark can tell a replaced file from the same one.
type identifiedStore interface {
	storeID() string
}

// spoolCursorStore is a store that can sit behind the spool: it keeps
// the position of the last spool entry ingested.
type spoolCursorStore interface {
	Store
	spoolCursor(ctx context.Context, gateway string) (spool.Pos, error)
}

// Len is the number of rows in the batch.
func (b *Batch) Len() int { return len(b.Inserts) + len(b.Outcomes) }

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

// Store is where records live. The SQLite store is the default; the
// interface is what a PostgreSQL store implements too. The Auditor calls
// the write methods from a single goroutine.
type Store interface {
	Reader
	// Write commits b durably in one transaction: when it returns nil,
	// every row of b survives a crash (kill -9, power loss).
	Write(ctx context.Context, b *Batch) error
	// LastSeq is the highest seq ever written for gateway (0 if none);
	// it survives retention.
	LastSeq(ctx context.Context, gateway string) (uint64, error)
	// OpenRecords returns gateway's records whose outcome never arrived.
	OpenRecords(ctx context.Context, gateway string) ([]Record, error)
	// Prune deletes up to limit records that started before before and
	// returns how many it deleted.
	Prune(ctx context.Context, before time.Time, limit int) (int, error)
	// Check reports whether the store can commit now (a probe write). It
	// reopens the store when its file was removed or replaced.
	Check(ctx context.Context) error
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
)

// StoreOptions tune a store.
type StoreOptions struct {
	// ReadOnly opens the store for queries only: no writer connection, no
	// schema changes, and a missing file is an error.
	ReadOnly bool
	// BusyTimeout is how long a commit waits for a lock held by another
	// process before it fails (default 2s).
	BusyTimeout time.Duration
	// Logger reports what the store repairs (default slog.Default()).
	Logger *slog.Logger
	// IntegrityTimeout bounds the integrity check of an existing SQLite
	// file opened for writing (default DefaultIntegrityTimeout; negative:
	// no check). A damaged file is refused with ErrStoreDamaged.
	IntegrityTimeout time.Duration
}

// OpenStore opens the store named by url: sqlite://PATH (relative to the
// working directory; parent directories are created) or
// postgres://user@host/db (postgresql:// too; the schema is created unless
// read-only).
func OpenStore(ctx context.Context, url string, opts StoreOptions) (Store, error) {
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		path := strings.TrimPrefix(url, "sqlite://")
		if path == "" {
			return nil, fmt.Errorf("audit: store %q: empty path (use sqlite://data/audit.db)", url)
		}
		return openSQLite(ctx, path, opts)
	case url == "discard://":
		return discardStore{}, nil
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return openPostgres(ctx, url, opts)
	default:
		return nil, fmt.Errorf("audit: store %q: must be sqlite://PATH or postgres://…", url)
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

// OpenReader opens the store named by url for queries only (what `sluice
// audit query --store` uses); it needs no writer and changes nothing.
func OpenReader(ctx context.Context, url string) (Reader, error) {
	return OpenStore(ctx, url, StoreOptions{ReadOnly: true})
}
