package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/sqlplan"
)

// label starts the store's error messages.
const label = "audit: postgres"

// store keeps the audit records in PostgreSQL. Write, Prune and Check
// use their own small pool (the Auditor calls them from one goroutine);
// queries use another, so a burst of queries never holds up a commit.
// Each Write is one transaction, committed with synchronous_commit=on
// (unless the URL sets it otherwise), so it is durable when it returns.
type store struct {
	opts audit.StoreOptions
	lay  *layout
	rd   *sqlplan.Reader // reads records and cost reports
	w    *pgxpool.Pool   // nil when read-only
	r    *pgxpool.Pool

	// logs is the write side of the logs, used by the writer only.
	logs audit.LogAppender
}

// openPostgres opens the store at url (postgres://user@host/db, any
// parameter libpq and pgx accept) and, unless read-only, creates the
// schema.
func openPostgres(ctx context.Context, url string, opts audit.StoreOptions) (*store, error) {
	opts.Defaults()
	s := &store{opts: opts, lay: newLayout(opts.Columns)}
	rcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("audit: postgres: %w", err)
	}
	rcfg.MaxConns = 4
	rcfg.MaxConnIdleTime = time.Minute
	if opts.ReadOnly {
		// Belt and braces: the server refuses writes on these sessions.
		rcfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	if s.r, err = pgxpool.NewWithConfig(ctx, rcfg); err != nil {
		return nil, fmt.Errorf("audit: postgres: %w", err)
	}
	if opts.ReadOnly {
		if err := s.checkVersion(ctx); err != nil {
			s.r.Close()
			return nil, err
		}
		// Not migrated: a column the view lacks reads as zero.
		view, err := sqlplan.ColumnsOf(ctx, dialect{}, s.query(s.r), "records")
		if err != nil {
			s.r.Close()
			return nil, fmt.Errorf("audit: postgres: %w", err)
		}
		s.rd = sqlplan.NewReader(dialect{}, s.lay.cols, view, label)
		return s, nil
	}
	wcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		s.r.Close()
		return nil, fmt.Errorf("audit: postgres: %w", err)
	}
	wcfg.MaxConns = 2
	wcfg.MinConns = 1
	if _, set := wcfg.ConnConfig.RuntimeParams["synchronous_commit"]; !set {
		wcfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	}
	// A commit waits at most this long for a lock held by another session
	// (the SQLite busy timeout).
	wcfg.ConnConfig.RuntimeParams["lock_timeout"] = fmt.Sprintf("%dms", opts.BusyTimeout.Milliseconds())
	// Every statement of the writer finds its rows by an index (rid, id,
	// gateway, time_start). The planner does not know how many rows an
	// unnest of a parameter array brings, and until autovacuum analyses a
	// growing table it can think decisions is tiny: it then updated
	// outcomes by a hash join over a sequential scan of the whole table,
	// once per batch (measured: 1,750 batches read 48.8 M rows of a
	// 56k-row table, 8.7 ms per commit). Sequential scans are priced out
	// for the writer's sessions.
	wcfg.ConnConfig.RuntimeParams["enable_seqscan"] = "off"
	if s.w, err = pgxpool.NewWithConfig(ctx, wcfg); err != nil {
		s.r.Close()
		return nil, fmt.Errorf("audit: postgres: %w", err)
	}
	if err := s.createSchema(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.rd = sqlplan.NewReader(dialect{}, s.lay.cols, nil, label) // migrated: every column
	return s, nil
}

// queryRower is a pool or a transaction.
type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// schemaVersionOf reads the schema version of the database q reaches;
// found is false when it holds no Sluice audit store yet.
func schemaVersionOf(ctx context.Context, q queryRower) (v int64, found bool, err error) {
	if err := q.QueryRow(ctx, `SELECT to_regclass('sluice_audit_meta') IS NOT NULL`).Scan(&found); err != nil || !found {
		return 0, false, err
	}
	err = q.QueryRow(ctx, `SELECT value FROM sluice_audit_meta WHERE key = 'schema_version'`).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return v, err == nil, err
}

// checkVersion refuses a database that is not a Sluice audit store or
// was written by a newer schema.
func (s *store) checkVersion(ctx context.Context) error {
	v, found, err := schemaVersionOf(ctx, s.r)
	switch {
	case err != nil:
		return fmt.Errorf("audit: postgres: schema version: %w", err)
	case !found:
		return errors.New("audit: postgres: not a Sluice audit store (no sluice_audit_meta schema version)")
	case v > schemaVersion:
		return fmt.Errorf("audit: postgres: schema version %d is newer than this Sluice understands (%d)", v, schemaVersion)
	}
	return nil
}

// createSchema creates the tables, indexes and view if they do not exist
// and adds the columns a database written by an earlier version lacks,
// under an advisory lock so that gateways starting together do not race.
func (s *store) createSchema(ctx context.Context) (err error) {
	tx, err := s.w.Begin(ctx)
	if err != nil {
		return fmt.Errorf("audit: postgres: schema: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(schemaLock)); err != nil {
		return fmt.Errorf("audit: postgres: schema lock: %w", err)
	}
	v, _, err := schemaVersionOf(ctx, tx)
	if err != nil {
		return fmt.Errorf("audit: postgres: schema version: %w", err)
	}
	if v > schemaVersion {
		return fmt.Errorf("audit: postgres: schema version %d is newer than this Sluice understands (%d)", v, schemaVersion)
	}
	if _, err = tx.Exec(ctx, s.lay.tablesDDL()); err != nil {
		return fmt.Errorf("audit: postgres: creating tables: %w", err)
	}
	exec := func(ctx context.Context, stmt string) error {
		_, err := tx.Exec(ctx, stmt)
		return err
	}
	if err = sqlplan.Migrate(ctx, dialect{}, s.query(tx), exec, []sqlplan.Table{s.lay.table()}, s.lay.cols, s.lay.viewDDL()); err != nil {
		return fmt.Errorf("audit: postgres: %w", err)
	}
	if err = s.backfill(ctx, tx); err != nil {
		return err
	}
	if _, err = tx.Exec(ctx, `INSERT INTO sluice_audit_meta (key, value) VALUES ('schema_version', $1)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, int64(schemaVersion)); err != nil {
		return fmt.Errorf("audit: postgres: schema version: %w", err)
	}
	if err = tx.Commit(ctx); err != nil {
		return fmt.Errorf("audit: postgres: schema: %w", err)
	}
	return nil
}

// writer returns the writer pool, or ErrReadOnly.
func (s *store) writer() (*pgxpool.Pool, error) {
	if s.w == nil {
		return nil, audit.ErrReadOnly
	}
	return s.w, nil
}

// query is the sqlplan.Querier of a pool or a transaction.
func (s *store) query(q interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}) sqlplan.Querier {
	return func(ctx context.Context, sql string, args ...any) (sqlplan.Rows, error) {
		return q.Query(ctx, sql, args...)
	}
}
