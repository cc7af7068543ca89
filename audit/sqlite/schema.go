package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/sqlplan"
	"github.com/sluicehq/sluice/internal/vocab"
)

// The SQLite layout. Rows are only ever appended (and pruned by
// retention), never rewritten:
//
//   - decisions: the decision part of each record, written before the
//     call is dialled; carries every index (id, time_start, denials).
//   - outcomes: one row per finished call (same rid), appended by End.
//   - open_calls: rids of calls begun and not yet ended; what a restart
//     closes with error gateway_restart.
//   - cost_hourly: calls, bytes and cost of ended calls per hour of
//     time_start, source, destination, meter and currency, kept in the
//     same transaction as the outcomes; cost reports read it instead of
//     every record.
//   - search_blocks: per block of 1,024 rids, the time range of its
//     records and a Bloom filter of their search keys (search.go), kept
//     in the same transaction as the rows; searches on columns without
//     an index read only the blocks that may hold a match.
//   - records: a view joining them, with exactly the columns of the
//     record schema (audit/columns.go, docs/contract.md §8) and rid.
//     Query this one.
//   - store_meta: the file's random id (store_id), which the high-water
//     mark records to tell a replaced file from the same one, and the
//     latest cut of retention (log_pruned_before).
//   - logs, log_blocks, log_checkpoints: each gateway's transparency log
//     (log.go), its leaves appended in the transaction that completes
//     their records, in blocks of up to 128 leaves (a row per leaf would
//     cost more than the rest of the log); outcomes.log_leaf is where
//     each finished record's leaf is.
//
// Appending the outcome instead of updating the decision row halves the
// cost of End and keeps decision pages packed.

// schemaVersion is stored in PRAGMA user_version; a store written by a
// newer Sluice is refused rather than misread. Columns added to the
// record schema do not change it: Open adds them (sqlplan.Migrate).
const schemaVersion = 1

// layout is the store's tables for a record schema.
type layout struct {
	cols []audit.Column // the record schema
	dec  []audit.Column // decisions, after rid: what the decision part sets
	out  []audit.Column // outcomes, after rid: what End may set or change
}

func newLayout(cols []audit.Column) layout {
	return layout{
		cols: cols,
		dec:  sqlplan.Where(cols, func(c audit.Column) bool { return c.Part.InDecision() }),
		out:  sqlplan.Where(cols, func(c audit.Column) bool { return c.Part.InOutcome() }),
	}
}

// tables are the tables of record columns: decisions NOT NULL, outcomes
// nullable (an outcome may leave a column to the decision).
func (l layout) tables() []sqlplan.Table {
	return []sqlplan.Table{{Name: "decisions", Columns: l.dec, NotNull: true}, {Name: "outcomes", Columns: l.out}}
}

// tablesDDL creates every table (not the view: viewDDL; not the indexes:
// indexDDL).
func (l layout) tablesDDL() string {
	var b strings.Builder
	for _, t := range l.tables() {
		fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (\n\trid INTEGER PRIMARY KEY", t.Name)
		for _, c := range t.Columns {
			b.WriteString(",\n\t" + sqlplan.ColumnDDL(dialect{}, c, t.NotNull, false))
		}
		b.WriteString("\n);\n")
	}
	return b.String() + bookkeepingDDL
}

// viewDDL creates the records view: every record column in schema order
// (the outcome's value where the call has one, else the decision's, else
// the zero value), then rid.
func (l layout) viewDDL() string {
	sel := make([]string, 0, len(l.cols)+1)
	for _, c := range l.cols {
		zero, _ := dialect{}.Zero(c.Type)
		switch {
		case c.Part == audit.PartDecision:
			sel = append(sel, "d."+c.Name)
		case c.Part == audit.PartBoth:
			sel = append(sel, fmt.Sprintf("coalesce(o.%[1]s, d.%[1]s) AS %[1]s", c.Name))
		case c.Type == audit.OptTime:
			sel = append(sel, "o."+c.Name)
		default:
			sel = append(sel, fmt.Sprintf("coalesce(o.%[1]s, %[2]s) AS %[1]s", c.Name, zero))
		}
	}
	sel = append(sel, "d.rid")
	return "CREATE VIEW records AS SELECT\n\t" + strings.Join(sel, ",\n\t") +
		"\nFROM decisions d LEFT JOIN outcomes o ON o.rid = d.rid"
}

// bookkeepingDDL creates the tables of the store's own bookkeeping.
const bookkeepingDDL = `CREATE TABLE IF NOT EXISTS open_calls (
	rid     INTEGER PRIMARY KEY,
	gateway TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cost_hourly (
	hour        TEXT    NOT NULL,
	source      TEXT    NOT NULL,
	destination TEXT    NOT NULL,
	meter       TEXT    NOT NULL,
	currency    TEXT    NOT NULL,
	calls       INTEGER NOT NULL,
	bytes       INTEGER NOT NULL,
	cost        REAL    NOT NULL,
	PRIMARY KEY (hour, source, destination, meter, currency)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gateways (
	gateway TEXT PRIMARY KEY,
	seq     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS spool_cursor (
	gateway TEXT PRIMARY KEY,
	seg     INTEGER NOT NULL,
	off     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS probe (
	k INTEGER PRIMARY KEY,
	t TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS store_meta (
	k TEXT PRIMARY KEY,
	v TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS logs (
	log     INTEGER PRIMARY KEY,
	gateway TEXT    NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS log_blocks (
	k    INTEGER PRIMARY KEY,
	n    INTEGER NOT NULL,
	data BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS search_blocks (
	b    INTEGER PRIMARY KEY,
	tmin TEXT NOT NULL,
	tmax TEXT NOT NULL,
	bits BLOB NOT NULL,
	sigs BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS log_checkpoints (
	gateway TEXT    NOT NULL,
	size    INTEGER NOT NULL,
	time    TEXT    NOT NULL,
	note    TEXT    NOT NULL,
	PRIMARY KEY (gateway, size)
) WITHOUT ROWID;
`

// indexDDL keeps typical queries (newest first, by id or decision,
// within a time range) on an index; filters on the other fields read the
// search summary (search.go). Every index also carries rid, which breaks
// ties in time order.
var indexDDL = []string{
	`CREATE UNIQUE INDEX IF NOT EXISTS decisions_id ON decisions(id)`,
	`CREATE INDEX IF NOT EXISTS decisions_time ON decisions(time_start)`,
	// Denials are what auditors filter on and are few: a partial index
	// serves "--decision deny" without every allowed call paying for it.
	`CREATE INDEX IF NOT EXISTS decisions_denied_time ON decisions(time_start) WHERE decision = '` + vocab.DecisionDeny + `'`,
	// The search summary's blocks by time (search.go): one row per 1,024
	// records.
	`CREATE INDEX IF NOT EXISTS search_blocks_time ON search_blocks(tmax, tmin)`,
	// Replaced by decisions_denied_time; a store created before keeps
	// paying for it on every insert unless it goes.
	`DROP INDEX IF EXISTS decisions_decision_time`,
	// Replaced by the search summary's keys for host and the sources
	// (#18): ~8 µs per record each under load, the largest part of a
	// write.
	`DROP INDEX IF EXISTS decisions_host_time`,
	`DROP INDEX IF EXISTS decisions_identity_time`,
	`DROP INDEX IF EXISTS decisions_workload_time`,
}

// valuesSQL is "(?,…),(?,…)": n rows of width placeholders.
func valuesSQL(n, width int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", width), ",") + ")"
	return strings.TrimSuffix(strings.Repeat(row+",", n), ",")
}

// insertDecisionsSQL inserts n decision rows. OR ROLLBACK: a failure rolls
// back the whole batch (which fails as a whole anyway). The rid is left
// to SQLite, which gives each row one more than the largest in the table:
// the rids Write assigned (insertAppended checks that). Given as a
// parameter, a rid makes SQLite keep a statement journal even with OR
// ROLLBACK (measured; presumably as a given rid may stop the statement
// halfway), copying every page the insert touches: ~8 % of a write's
// CPU.
func (l layout) insertDecisionsSQL(n int) string {
	return "INSERT OR ROLLBACK INTO decisions (" + strings.Join(sqlplan.Names(l.dec), ", ") + ") VALUES " +
		valuesSQL(n, len(l.dec))
}

// insertOutcomesSQL appends n outcome rows, each with where its record's
// leaf is (log_leaf). Write only writes the outcome of an open call (a
// completed record is in its log: it never changes), so a conflict cannot
// happen; were it to, the first outcome stands rather than the batch
// failing.
func (l layout) insertOutcomesSQL(n int) string {
	return "INSERT OR ROLLBACK INTO outcomes (rid, log_leaf, " + strings.Join(sqlplan.Names(l.out), ", ") + ") VALUES " +
		valuesSQL(n, len(l.out)+2) + " ON CONFLICT (rid) DO NOTHING"
}

// insertBlocksSQL appends n rows of log_blocks.
func insertBlocksSQL(n int) string {
	return "INSERT OR ROLLBACK INTO log_blocks (k, n, data) VALUES " + valuesSQL(n, 3)
}

// upsertCostSQL adds n groups to cost_hourly.
func upsertCostSQL(n int) string {
	return "INSERT OR ROLLBACK INTO cost_hourly (hour, source, destination, meter, currency, calls, bytes, cost) VALUES " +
		valuesSQL(n, 8) + " ON CONFLICT (hour, source, destination, meter, currency) DO UPDATE SET " +
		"calls = calls + excluded.calls, bytes = bytes + excluded.bytes, cost = cost + excluded.cost"
}

func insertOpenSQL(n int) string {
	return "INSERT OR ROLLBACK INTO open_calls (rid, gateway) VALUES " + valuesSQL(n, 2)
}

// deleteOpenSQL closes n calls and returns the rids of those that were
// open.
func deleteOpenSQL(n int) string {
	return "DELETE FROM open_calls WHERE rid IN (" + strings.TrimSuffix(strings.Repeat("?,", n), ",") + ") RETURNING rid"
}

// appendRowArgs appends rid, then lead, then the values of cols of r.
func appendRowArgs(args []any, rid int64, cols []audit.Column, r *audit.Record, lead ...any) []any {
	args = append(args, rid)
	args = append(args, lead...)
	return appendColumnArgs(args, cols, r)
}

// appendColumnArgs appends the values of cols of r.
func appendColumnArgs(args []any, cols []audit.Column, r *audit.Record) []any {
	for i := range cols {
		args = append(args, dialect{}.Arg(cols[i].Type, cols[i].Field(r)))
	}
	return args
}

// createSchema creates the tables, view and indexes if they do not exist,
// adds the columns a store written by an earlier version lacks, and
// refuses a store written by a newer schema.
func (l layout) createSchema(ctx context.Context, conn *sql.Conn) error {
	if err := l.createTables(ctx, conn); err != nil {
		return err
	}
	return createIndexes(ctx, conn)
}

// createTables is createSchema without the indexes (a bulk load builds
// them after the rows).
func (l layout) createTables(ctx context.Context, conn *sql.Conn) error {
	var v int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > schemaVersion {
		return fmt.Errorf("schema version %d is newer than this Sluice understands (%d)", v, schemaVersion)
	}
	if _, err := conn.ExecContext(ctx, l.tablesDDL()); err != nil {
		return fmt.Errorf("creating tables: %w", err)
	}
	exec := func(ctx context.Context, stmt string) error {
		_, err := conn.ExecContext(ctx, stmt)
		return err
	}
	if err := sqlplan.Migrate(ctx, dialect{}, sqlplan.DBQuerier(conn), exec, l.tables(), l.cols, l.viewDDL()); err != nil {
		return err
	}
	// Where each finished record's leaf is: not a record column.
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('outcomes') WHERE name = 'log_leaf'`).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		if err := exec(ctx, `ALTER TABLE outcomes ADD COLUMN log_leaf INTEGER`); err != nil {
			return fmt.Errorf("adding log_leaf to outcomes: %w", err)
		}
	}
	if v != schemaVersion {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
			return err
		}
	}
	return nil
}

// createIndexes creates the indexes (indexDDL) that do not exist.
func createIndexes(ctx context.Context, conn *sql.Conn) error {
	for _, ddl := range indexDDL {
		if _, err := conn.ExecContext(ctx, ddl); err != nil {
			return fmt.Errorf("creating index: %w", err)
		}
	}
	return nil
}
