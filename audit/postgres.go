package audit

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The PostgreSQL layout. Unlike SQLite, where appending the outcome beats
// rewriting the decision row, PostgreSQL rewrites rows cheaply (a HOT
// update when the page has room, hence fillfactor 90), so a record is one
// row of decisions, inserted by Begin and updated by End:
//
//   - decisions: every record column plus rid (bigint identity, the
//     insertion order that breaks ties in time order); time_end is NULL
//     while the call is open.
//   - open_calls: rids of calls begun and not yet ended (what a restart
//     closes with error gateway_restart); a separate table so that End
//     changes no indexed column of decisions.
//   - gateways: the highest seq written per gateway (survives retention).
//   - probe: one row rewritten by Check.
//   - cost_hourly: calls, bytes and cost of the calls that went out, per
//     hour of time_start, source, destination, meter and currency, added
//     in the transaction that records each call's outcome (as in SQLite),
//     so a month's cost report reads hours, not records.
//   - sluice_audit_meta: the schema version.
//   - records: a view with exactly the columns of docs/contract.md §8 (and
//     rid), the same as the SQLite view. Query this one.

// pgSchemaVersion is the schema version kept in sluice_audit_meta; a
// database written by a newer Sluice is refused rather than misread.
const pgSchemaVersion = 1

// pgSchemaLock is the advisory lock key that serialises schema creation
// between gateways starting together on the same database.
const pgSchemaLock = 0x736c7569636501 // "sluice\x01"

// pgTableDDL creates the tables and indexes (not the view: pgViewDDL).
func pgTableDDL() string {
	var b strings.Builder
	b.WriteString(`CREATE TABLE IF NOT EXISTS sluice_audit_meta (
	key   text   PRIMARY KEY,
	value bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
	rid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY`)
	for _, c := range columns {
		fmt.Fprintf(&b, ",\n\t%s %s", c.Name, pgType(c.Type))
		if c.Type != OptTime {
			b.WriteString(" NOT NULL")
		}
	}
	b.WriteString("\n) WITH (fillfactor = 90);\n")
	b.WriteString(pgBookkeepingDDL)
	return b.String()
}

// pgViewDDL creates the records view: every record column in schema
// order, then rid (the same columns as SQLite's view).
func pgViewDDL() string {
	return "CREATE VIEW records AS SELECT\n\t" + strings.Join(Columns(), ", ") + ", rid\nFROM decisions"
}

// pgType is the PostgreSQL type of a record column.
func pgType(t Type) string {
	switch t {
	case Uint, Int64:
		return "bigint"
	case Int, Count:
		return "integer"
	case Float:
		return "double precision"
	case Bool:
		return "boolean"
	case Time, OptTime:
		return "timestamptz"
	case List:
		return "jsonb"
	}
	return "text"
}

const pgBookkeepingDDL = `CREATE TABLE IF NOT EXISTS open_calls (
	rid     bigint PRIMARY KEY,
	gateway text   NOT NULL
);
CREATE TABLE IF NOT EXISTS gateways (
	gateway text   PRIMARY KEY,
	seq     bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS probe (
	k integer     PRIMARY KEY,
	t timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS cost_hourly (
	hour        timestamptz      NOT NULL,
	source      text             NOT NULL,
	destination text             NOT NULL,
	meter       text             NOT NULL,
	currency    text             NOT NULL,
	calls       bigint           NOT NULL,
	bytes       bigint           NOT NULL,
	cost        double precision NOT NULL,
	PRIMARY KEY (hour, source, destination, meter, currency)
);
CREATE UNIQUE INDEX IF NOT EXISTS decisions_id ON decisions (id);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions (time_start, rid);
CREATE INDEX IF NOT EXISTS decisions_host_time ON decisions (host, time_start, rid);
CREATE INDEX IF NOT EXISTS decisions_identity_time ON decisions (source_identity, time_start, rid);
CREATE INDEX IF NOT EXISTS decisions_workload_time ON decisions (source_workload, time_start, rid);
CREATE INDEX IF NOT EXISTS decisions_ip_time ON decisions (source_ip, time_start, rid);
CREATE INDEX IF NOT EXISTS decisions_denied_time ON decisions (time_start, rid) WHERE decision = 'deny';`

// pgCol is a column of decisions and how to read it from a Record.
type pgCol struct {
	name string
	typ  Type
	get  func(*Record) any
}

// pgArrayType is the array type of a column in unnest($n::type): jsonb
// is sent as text.
func pgArrayType(t Type) string {
	if t == List {
		return "text[]"
	}
	return pgType(t) + "[]"
}

// pgArg is the value of the field p points to (of type t) as sent in an
// array: the Go type pgArrays collects for t.
func pgArg(t Type, p any) any {
	switch t {
	case Text:
		return *p.(*string)
	case Uint:
		return int64(*p.(*uint64))
	case Int:
		return int32(*p.(*int))
	case Count:
		return int32(max(*p.(*int), 1))
	case Int64:
		return *p.(*int64)
	case Float:
		return *p.(*float64)
	case Bool:
		return *p.(*bool)
	case Time, OptTime:
		return *p.(*time.Time)
	case List:
		return rulesJSON(*p.(*[]string))
	}
	return nil
}

// pgRecordCols are the columns of decisions (after rid), in view order.
var pgRecordCols = func() []pgCol {
	cols := make([]pgCol, len(columns))
	for i, c := range columns {
		cols[i] = pgCol{c.Name, c.Type, func(r *Record) any { return pgArg(c.Type, c.Field(r)) }}
	}
	return cols
}()

// pgRidCol is rid as an input column (outcome updates).
var pgRidCol = pgCol{"rid", Int64, func(r *Record) any { return r.rid }}

// pgOutcomeCols are the columns End sets: rid and id to find the row,
// then the columns the outcome part sets.
var pgOutcomeCols = func() []pgCol {
	cols := []pgCol{pgRidCol, pgRecordCols[0]}
	for i, c := range columns {
		if c.Part.InOutcome() {
			cols = append(cols, pgRecordCols[i])
		}
	}
	return cols
}()

// pgArrays turns recs into one array argument per column.
func pgArrays(cols []pgCol, recs []*Record) []any {
	args := make([]any, len(cols))
	for i, c := range cols {
		switch c.typ {
		case Text, List:
			args[i] = pgColumn[string](c, recs)
		case Uint, Int64:
			args[i] = pgColumn[int64](c, recs)
		case Int, Count:
			args[i] = pgColumn[int32](c, recs)
		case Float:
			args[i] = pgColumn[float64](c, recs)
		case Bool:
			args[i] = pgColumn[bool](c, recs)
		case Time, OptTime:
			a := make([]pgtype.Timestamptz, len(recs))
			for j, t := range pgColumn[time.Time](c, recs) {
				a[j] = pgtype.Timestamptz{Time: t, Valid: !t.IsZero() || c.typ == Time}
			}
			args[i] = a
		}
	}
	return args
}

// pgColumn is column c of recs, as the Go type its kind reads as.
func pgColumn[T any](c pgCol, recs []*Record) []T {
	a := make([]T, len(recs))
	for j, r := range recs {
		a[j] = c.get(r).(T)
	}
	return a
}

// pgUnnest is "unnest($1::text[], …) AS u(id, …)" for cols.
func pgUnnest(cols []pgCol) string {
	params := make([]string, len(cols))
	names := make([]string, len(cols))
	for i, c := range cols {
		params[i] = fmt.Sprintf("$%d::%s", i+1, pgArrayType(c.typ))
		names[i] = c.name
	}
	return "unnest(" + strings.Join(params, ", ") + ") AS u(" + strings.Join(names, ", ") + ")"
}

// pgValue is the expression that stores input column c of u.
func pgValue(c pgCol) string {
	if c.typ == List {
		return "u." + c.name + "::jsonb"
	}
	return "u." + c.name
}

// pgInsertSQL inserts whole rows and returns their rid and id. With open,
// rows without time_end also go into open_calls (Begin); with guard, rows
// whose id is already stored are skipped (outcomes whose row is missing).
func pgInsertSQL(open, guard bool) string {
	names := make([]string, len(pgRecordCols))
	vals := make([]string, len(pgRecordCols))
	for i, c := range pgRecordCols {
		names[i], vals[i] = c.name, pgValue(c)
	}
	q := "WITH ins AS (INSERT INTO decisions (" + strings.Join(names, ", ") + ") SELECT " +
		strings.Join(vals, ", ") + " FROM " + pgUnnest(pgRecordCols)
	if guard {
		q += " WHERE NOT EXISTS (SELECT 1 FROM decisions x WHERE x.id = u.id)"
	}
	q += " RETURNING rid, id, gateway, time_end)"
	if open {
		q += ", oc AS (INSERT INTO open_calls (rid, gateway) SELECT rid, gateway FROM ins WHERE time_end IS NULL)"
	}
	return q + " SELECT rid, id FROM ins"
}

// pgUpdateSQL writes outcomes into their rows, found by rid and id
// (byRid) or by id alone, closes them in open_calls and returns the ids
// of the rows it found.
func pgUpdateSQL(byRid bool) string {
	set := make([]string, 0, len(pgOutcomeCols)-2)
	for _, c := range pgOutcomeCols[2:] {
		set = append(set, c.name+" = "+pgValue(c))
	}
	where := "d.id = u.id"
	if byRid {
		where = "d.rid = u.rid AND d.id = u.id"
	}
	return "WITH up AS (UPDATE decisions d SET " + strings.Join(set, ", ") + " FROM " + pgUnnest(pgOutcomeCols) +
		" WHERE " + where + " RETURNING d.rid, d.id), del AS (DELETE FROM open_calls o USING up WHERE o.rid = up.rid)" +
		" SELECT id FROM up"
}

// The statements of Write, built once.
var (
	pgInsertOpenSQL    = pgInsertSQL(true, false)
	pgInsertMissingSQL = pgInsertSQL(false, true)
	pgUpdateByRidSQL   = pgUpdateSQL(true)
	pgUpdateByIDSQL    = pgUpdateSQL(false)
)

const pgSeqSQL = `INSERT INTO gateways (gateway, seq) SELECT * FROM unnest($1::text[], $2::bigint[])
	ON CONFLICT (gateway) DO UPDATE SET seq = GREATEST(gateways.seq, excluded.seq)`

// pgCostUpsertSQL adds groups to cost_hourly. Groups are sent in key order, so
// replicas upserting the same hours lock them in the same order.
const pgCostUpsertSQL = `INSERT INTO cost_hourly (hour, source, destination, meter, currency, calls, bytes, cost)
	SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::double precision[])
	ON CONFLICT (hour, source, destination, meter, currency) DO UPDATE SET
	calls = cost_hourly.calls + excluded.calls, bytes = cost_hourly.bytes + excluded.bytes, cost = cost_hourly.cost + excluded.cost`

// pgCostArgs groups the calls of b that went out and ended (whole
// records, and every outcome: each is either updated into its row or
// inserted whole) into cost_hourly's arrays, in key order.
func pgCostArgs(b *Batch) []any {
	type key struct {
		hour                                 time.Time
		source, destination, meter, currency string
	}
	sums := map[key]costSum{}
	add := func(r *Record) {
		if _, v, ok := costGroup(r); ok {
			k := key{r.TimeStart.UTC().Truncate(time.Hour), r.Source(), r.Host, r.Meter, r.Currency}
			sum := sums[k]
			sum.calls, sum.bytes, sum.cost = sum.calls+v.calls, sum.bytes+v.bytes, sum.cost+v.cost
			sums[k] = sum
		}
	}
	for _, r := range b.Inserts {
		if !r.TimeEnd.IsZero() {
			add(r)
		}
	}
	for _, r := range b.Outcomes {
		add(r)
	}
	if len(sums) == 0 {
		return nil
	}
	keys := make([]key, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(a.hour.Compare(b.hour), cmp.Compare(a.source, b.source), cmp.Compare(a.destination, b.destination),
			cmp.Compare(a.meter, b.meter), cmp.Compare(a.currency, b.currency))
	})
	n := len(keys)
	hours, srcs, dsts, meters, curs := make([]time.Time, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	calls, bytes, costs := make([]int64, n), make([]int64, n), make([]float64, n)
	for i, k := range keys {
		v := sums[k]
		hours[i], srcs[i], dsts[i], meters[i], curs[i] = k.hour, k.source, k.destination, k.meter, k.currency
		calls[i], bytes[i], costs[i] = v.calls, v.bytes, v.cost
	}
	return []any{hours, srcs, dsts, meters, curs, calls, bytes, costs}
}

// pgGen is the generation of every PostgreSQL store: a rid stays valid as
// long as the database does, and Write checks the id with the rid anyway,
// so a rid from elsewhere cannot misplace an outcome.
const pgGen = 1

// pgStore keeps the audit records in PostgreSQL. Write, Prune and Check
// use their own small pool (the Auditor calls them from one goroutine);
// queries use another, so a burst of queries never holds up a commit.
// Each Write is one transaction, committed with synchronous_commit=on
// (unless the URL sets it otherwise), so it is durable when it returns.
type pgStore struct {
	opts StoreOptions
	w    *pgxpool.Pool // nil when read-only
	r    *pgxpool.Pool
}

// openPostgres opens the store at url (postgres://user@host/db, any
// parameter libpq and pgx accept) and, unless read-only, creates the
// schema.
func openPostgres(ctx context.Context, url string, opts StoreOptions) (*pgStore, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 2 * time.Second
	}
	s := &pgStore{opts: opts}
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
	return s, nil
}

// pgQueryRower is a pool or a transaction.
type pgQueryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// pgSchemaVersionOf reads the schema version of the database q reaches;
// found is false when it holds no Sluice audit store yet.
func pgSchemaVersionOf(ctx context.Context, q pgQueryRower) (v int64, found bool, err error) {
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
func (s *pgStore) checkVersion(ctx context.Context) error {
	v, found, err := pgSchemaVersionOf(ctx, s.r)
	switch {
	case err != nil:
		return fmt.Errorf("audit: postgres: schema version: %w", err)
	case !found:
		return errors.New("audit: postgres: not a Sluice audit store (no sluice_audit_meta schema version)")
	case v > pgSchemaVersion:
		return fmt.Errorf("audit: postgres: schema version %d is newer than this Sluice understands (%d)", v, pgSchemaVersion)
	}
	return nil
}

// createSchema creates the tables, indexes and view if they do not exist,
// under an advisory lock so that gateways starting together do not race.
func (s *pgStore) createSchema(ctx context.Context) (err error) {
	tx, err := s.w.Begin(ctx)
	if err != nil {
		return fmt.Errorf("audit: postgres: schema: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(pgSchemaLock)); err != nil {
		return fmt.Errorf("audit: postgres: schema lock: %w", err)
	}
	v, _, err := pgSchemaVersionOf(ctx, tx)
	if err != nil {
		return fmt.Errorf("audit: postgres: schema version: %w", err)
	}
	if v > pgSchemaVersion {
		return fmt.Errorf("audit: postgres: schema version %d is newer than this Sluice understands (%d)", v, pgSchemaVersion)
	}
	if _, err = tx.Exec(ctx, pgTableDDL()); err != nil {
		return fmt.Errorf("audit: postgres: creating tables: %w", err)
	}
	if err = pgMigrate(ctx, tx); err != nil {
		return err
	}
	if _, err = tx.Exec(ctx, `INSERT INTO sluice_audit_meta (key, value) VALUES ('schema_version', $1)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, int64(pgSchemaVersion)); err != nil {
		return fmt.Errorf("audit: postgres: schema version: %w", err)
	}
	if err = tx.Commit(ctx); err != nil {
		return fmt.Errorf("audit: postgres: schema: %w", err)
	}
	return nil
}

// writer returns the writer pool, or ErrReadOnly.
func (s *pgStore) writer() (*pgxpool.Pool, error) {
	if s.w == nil {
		return nil, ErrReadOnly
	}
	return s.w, nil
}

// Write implements Store: one transaction. Begin's rows are inserted
// (and listed in open_calls); outcomes update their row, found by the rid
// Begin's insert returned (checked against the id) or else by id; an
// outcome whose row is not there is inserted as a whole record.
func (s *pgStore) Write(ctx context.Context, b *Batch) (err error) {
	w, err := s.writer()
	if err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	tx, err := w.Begin(ctx)
	if err != nil {
		return fmt.Errorf("audit: postgres: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	// Inserts with no TimeEnd are open calls: their outcome columns hold
	// nothing yet, as in the SQLite view.
	ins := make([]*Record, len(b.Inserts))
	for i, r := range b.Inserts {
		ins[i] = r
		if r.TimeEnd.IsZero() {
			c := *r
			ClearOutcome(&c)
			ins[i] = &c
		}
	}
	var byRid, byID []*Record
	for _, r := range b.Outcomes {
		if r.rid != 0 && r.gen == pgGen {
			byRid = append(byRid, r)
		} else {
			byID = append(byID, r)
		}
	}
	var seqs gatewaySeqs
	for _, r := range b.Inserts {
		seqs.note(r)
	}
	for _, r := range b.Outcomes {
		seqs.note(r)
	}

	batch := &pgx.Batch{}
	if len(byRid) > 0 {
		batch.Queue(pgUpdateByRidSQL, pgArrays(pgOutcomeCols, byRid)...)
	}
	if len(byID) > 0 {
		batch.Queue(pgUpdateByIDSQL, pgArrays(pgOutcomeCols, byID)...)
	}
	if len(ins) > 0 {
		batch.Queue(pgInsertOpenSQL, pgArrays(pgRecordCols, ins)...)
	}
	gws, gseqs := make([]string, len(seqs)), make([]int64, len(seqs))
	for i, g := range seqs {
		gws[i], gseqs[i] = g.gateway, int64(g.seq)
	}
	batch.Queue(pgSeqSQL, gws, gseqs)
	costArgs := pgCostArgs(b)
	if costArgs != nil {
		batch.Queue(pgCostUpsertSQL, costArgs...)
	}

	found := make(map[string]bool, len(b.Outcomes))
	rids := make(map[string]int64, len(ins))
	br := tx.SendBatch(ctx, batch)
	readIDs := func(what string) error {
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("audit: postgres: %s: %w", what, err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("audit: postgres: %s: %w", what, err)
			}
			found[id] = true
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("audit: postgres: %s: %w", what, err)
		}
		return nil
	}
	if len(byRid) > 0 {
		if err := readIDs("update outcomes"); err != nil {
			_ = br.Close()
			return err
		}
	}
	if len(byID) > 0 {
		if err := readIDs("update outcomes by id"); err != nil {
			_ = br.Close()
			return err
		}
	}
	if len(ins) > 0 {
		if err := readRids(br, rids); err != nil {
			_ = br.Close()
			return fmt.Errorf("audit: postgres: insert decisions: %w", err)
		}
	}
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return fmt.Errorf("audit: postgres: seq: %w", err)
	}
	if costArgs != nil {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return fmt.Errorf("audit: postgres: cost rollup: %w", err)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("audit: postgres: batch: %w", err)
	}

	// Outcomes whose row was not found (rare: Begin failed, or the row
	// was pruned or its rid is stale): try by id those looked up by rid,
	// then insert the rest whole so that nothing is lost.
	var missing, missingByRid []*Record
	for _, r := range b.Outcomes {
		if !found[r.ID] {
			missing = append(missing, r)
			if r.rid != 0 && r.gen == pgGen {
				missingByRid = append(missingByRid, r)
			}
		}
	}
	if len(missing) > 0 {
		if len(missingByRid) > 0 {
			if _, err := tx.Exec(ctx, pgUpdateByIDSQL, pgArrays(pgOutcomeCols, missingByRid)...); err != nil {
				return fmt.Errorf("audit: postgres: update outcomes by id: %w", err)
			}
		}
		rows, err := tx.Query(ctx, pgInsertMissingSQL, pgArrays(pgRecordCols, missing)...)
		if err != nil {
			return fmt.Errorf("audit: postgres: insert records of outcomes: %w", err)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("audit: postgres: insert records of outcomes: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("audit: postgres: commit: %w", err)
	}
	// Committed: Begin's records now know their row.
	for _, r := range b.Inserts {
		r.rid, r.gen = rids[r.ID], pgGen
	}
	return nil
}

// readRids reads the (rid, id) rows of an insert into rids.
func readRids(br pgx.BatchResults, rids map[string]int64) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var rid int64
		var id string
		if err := rows.Scan(&rid, &id); err != nil {
			return err
		}
		rids[id] = rid
	}
	return rows.Err()
}

// LastSeq implements Store.
func (s *pgStore) LastSeq(ctx context.Context, gateway string) (uint64, error) {
	w, err := s.writer()
	if err != nil {
		return 0, err
	}
	var seq int64
	err = w.QueryRow(ctx, `SELECT seq FROM gateways WHERE gateway = $1`, gateway).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("audit: postgres: last seq: %w", err)
	}
	return uint64(seq), nil
}

// OpenRecords implements Store.
func (s *pgStore) OpenRecords(ctx context.Context, gateway string) ([]Record, error) {
	w, err := s.writer()
	if err != nil {
		return nil, err
	}
	rows, err := w.Query(ctx, "SELECT "+selectList()+
		" FROM records WHERE rid IN (SELECT rid FROM open_calls WHERE gateway = $1) ORDER BY rid", gateway)
	if err != nil {
		return nil, fmt.Errorf("audit: postgres: open records: %w", err)
	}
	defer rows.Close()
	var out []Record
	sc := newPGRowScanner()
	for rows.Next() {
		r, err := sc.scan(rows)
		if err != nil {
			return nil, fmt.Errorf("audit: postgres: open records: %w", err)
		}
		r.gen = pgGen
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: postgres: open records: %w", err)
	}
	return out, nil
}

// pgPruneSQL deletes the oldest records (and their open_calls rows) in one
// statement, and the cost_hourly hours wholly before the cut (an hour the
// cut splits stays whole, as in SQLite). Rows another session has locked are skipped rather than
// waited for: they go with the next batch.
const pgPruneSQL = `WITH old AS (
	SELECT rid FROM decisions WHERE time_start < $1 ORDER BY time_start LIMIT $2 FOR UPDATE SKIP LOCKED
), oc AS (
	DELETE FROM open_calls WHERE rid IN (SELECT rid FROM old)
), ch AS (
	DELETE FROM cost_hourly WHERE hour < date_trunc('hour', $1::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
)
DELETE FROM decisions WHERE rid IN (SELECT rid FROM old)`

// Prune implements Store: one short statement (its own transaction) of
// at most limit records. PostgreSQL locks only the deleted rows, so
// concurrent inserts and outcome updates of newer records do not wait.
func (s *pgStore) Prune(ctx context.Context, before time.Time, limit int) (int, error) {
	w, err := s.writer()
	if err != nil {
		return 0, err
	}
	tag, err := w.Exec(ctx, pgPruneSQL, before, int64(max(limit, 0)))
	if err != nil {
		return 0, fmt.Errorf("audit: postgres: prune: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Check implements Store: a probe commit. The pool reconnects by itself
// after the server restarts or a connection breaks.
func (s *pgStore) Check(ctx context.Context) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	if _, err := w.Exec(ctx, `INSERT INTO probe (k, t) VALUES (1, $1)
		ON CONFLICT (k) DO UPDATE SET t = excluded.t`, time.Now()); err != nil {
		return fmt.Errorf("audit: postgres: probe write: %w", err)
	}
	return nil
}

// Close implements Reader.
func (s *pgStore) Close() error {
	if s.r != nil {
		s.r.Close()
	}
	if s.w != nil {
		s.w.Close()
	}
	return nil
}

// pgRowScanner reads rows selected with selectList into Records: one
// holder per column, reused from row to row.
type pgRowScanner struct {
	dest []any
}

func newPGRowScanner() *pgRowScanner {
	s := &pgRowScanner{dest: make([]any, len(columns)+1)}
	for i, c := range columns {
		switch c.Type {
		case Text:
			s.dest[i] = new(string)
		case Uint, Int64:
			s.dest[i] = new(int64)
		case Int, Count:
			s.dest[i] = new(int32)
		case Float:
			s.dest[i] = new(float64)
		case Bool:
			s.dest[i] = new(bool)
		case Time, OptTime:
			s.dest[i] = new(pgtype.Timestamptz)
		case List:
			s.dest[i] = new([]byte)
		}
	}
	s.dest[len(columns)] = new(int64)
	return s
}

// scan reads the current row of rows into a new Record.
func (s *pgRowScanner) scan(rows pgx.Rows) (Record, error) {
	var r Record
	if err := rows.Scan(s.dest...); err != nil {
		return r, err
	}
	for i := range columns {
		c := &columns[i]
		if err := assignPG(c.Type, s.dest[i], c.Field(&r)); err != nil {
			return r, fmt.Errorf("record %s: %s: %w", r.ID, c.Name, err)
		}
	}
	r.rid = *s.dest[len(columns)].(*int64)
	return r, nil
}

// assignPG stores a scanned value (held by dest) into the field p points
// to (of type t).
func assignPG(t Type, dest, p any) error {
	switch t {
	case Text:
		*p.(*string) = *dest.(*string)
	case Uint:
		*p.(*uint64) = uint64(*dest.(*int64))
	case Int, Count:
		*p.(*int) = int(*dest.(*int32))
	case Int64:
		*p.(*int64) = *dest.(*int64)
	case Float:
		*p.(*float64) = *dest.(*float64)
	case Bool:
		*p.(*bool) = *dest.(*bool)
	case Time, OptTime:
		*p.(*time.Time) = time.Time{}
		if ts := dest.(*pgtype.Timestamptz); ts.Valid {
			*p.(*time.Time) = ts.Time.UTC()
		}
	case List:
		*p.(*[]string) = nil
		if v := *dest.(*[]byte); len(v) > 0 && string(v) != "[]" {
			return json.Unmarshal(v, p)
		}
	}
	return nil
}

// pgMigrate brings a database written by an earlier version up to the
// record schema: every column decisions lacks is added (NOT NULL with its
// zero value as default, so existing rows read as zero), and the records
// view is recreated when it lacks a column. Columns it has beyond the
// schema (written by a newer version) are left alone.
func pgMigrate(ctx context.Context, tx pgx.Tx) error {
	have, err := pgColumnsOf(ctx, tx, "decisions")
	if err != nil {
		return fmt.Errorf("audit: postgres: migrating: %w", err)
	}
	for _, c := range columns {
		if have[c.Name] {
			continue
		}
		ddl := fmt.Sprintf("ALTER TABLE decisions ADD COLUMN %s %s", c.Name, pgType(c.Type))
		if z, ok := pgZero(c.Type); ok {
			ddl += " NOT NULL DEFAULT " + z
		}
		if _, err := tx.Exec(ctx, ddl); err != nil {
			return fmt.Errorf("audit: postgres: adding column %s: %w", c.Name, err)
		}
	}
	view, err := pgColumnsOf(ctx, tx, "records")
	if err != nil {
		return fmt.Errorf("audit: postgres: migrating: %w", err)
	}
	for _, name := range append(Columns(), "rid") {
		if !view[name] {
			if _, err := tx.Exec(ctx, "DROP VIEW IF EXISTS records; "+pgViewDDL()); err != nil {
				return fmt.Errorf("audit: postgres: creating the records view: %w", err)
			}
			break
		}
	}
	return nil
}

// pgColumnsOf returns the column names of the table or view rel (resolved
// through the search path); none when it does not exist.
func pgColumnsOf(ctx context.Context, tx pgx.Tx, rel string) (map[string]bool, error) {
	rows, err := tx.Query(ctx, `SELECT attname FROM pg_attribute
		WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`, rel)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	have := make(map[string]bool, len(names))
	for _, n := range names {
		have[n] = true
	}
	return have, nil
}

// pgZero is the SQL literal of a column's zero value as stored, and false
// for times, which have none (a time column added later is nullable, and
// NULL reads as the zero time).
func pgZero(t Type) (string, bool) {
	switch t {
	case Uint, Int, Int64, Float:
		return "0", true
	case Count:
		return "1", true
	case Bool:
		return "false", true
	case List:
		return "'[]'", true
	case Time, OptTime:
		return "", false
	}
	return "''", true
}
