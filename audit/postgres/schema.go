package postgres

import (
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/sqlplan"
	"github.com/sluicehq/sluice/internal/vocab"
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
//   - sluice_audit_meta: the schema version, and the latest cut of
//     retention (log_pruned_before, Unix ms).
//   - log_leaves, log_checkpoints: each gateway's transparency log (each
//     replica keeps its own, its gateway id the origin), its leaves
//     appended in the transaction that completes their records
//     (audit/sqlplan/log.go).
//   - records: a view with exactly the columns of the record schema
//     (audit/columns.go, docs/contract.md §8) and rid, the same as the
//     SQLite view. Query this one.

// schemaVersion is the schema version kept in sluice_audit_meta; a
// database written by a newer Sluice is refused rather than misread.
// Columns added to the record schema do not change it: Open adds them
// (sqlplan.Migrate).
const schemaVersion = 1

// schemaLock is the advisory lock key that serialises schema creation
// between gateways starting together on the same database.
const schemaLock = 0x736c7569636501 // "sluice\x01"

// layout is the store's tables and the statements of Write for a record
// schema.
type layout struct {
	cols []audit.Column // decisions, after rid: the record schema
	out  []audit.Column // what End sets: the columns of the outcome part

	insertOpen    string // Begin's rows (and open_calls), returning rid and id
	insertMissing string // outcomes whose row is not there, whole
	updateByRid   string // outcomes into their rows, by rid and id
	updateByID    string // outcomes into their rows, by id
}

func newLayout(cols []audit.Column) *layout {
	l := &layout{cols: cols, out: sqlplan.Where(cols, func(c audit.Column) bool { return c.Part.InOutcome() })}
	l.insertOpen, l.insertMissing = l.insertSQL(true, false), l.insertSQL(false, true)
	l.updateByRid, l.updateByID = l.updateSQL(true), l.updateSQL(false)
	return l
}

// table is decisions, every record column NOT NULL but the optional time.
func (l *layout) table() sqlplan.Table {
	return sqlplan.Table{Name: "decisions", Columns: l.cols, NotNull: true}
}

// tablesDDL creates the tables and indexes (not the view: viewDDL).
func (l *layout) tablesDDL() string {
	var b strings.Builder
	b.WriteString(`CREATE TABLE IF NOT EXISTS sluice_audit_meta (
	key   text   PRIMARY KEY,
	value bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
	rid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY`)
	for _, c := range l.cols {
		b.WriteString(",\n\t" + sqlplan.ColumnDDL(dialect{}, c, c.Type != audit.OptTime, false))
	}
	b.WriteString("\n) WITH (fillfactor = 90);\n")
	return b.String() + bookkeepingDDL
}

// viewDDL creates the records view: every record column in schema order,
// then rid.
func (l *layout) viewDDL() string {
	return "CREATE VIEW records AS SELECT\n\t" + strings.Join(sqlplan.Names(l.cols), ", ") + ", rid\nFROM decisions"
}

const bookkeepingDDL = `CREATE TABLE IF NOT EXISTS open_calls (
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
CREATE INDEX IF NOT EXISTS decisions_denied_time ON decisions (time_start, rid) WHERE decision = '` + vocab.DecisionDeny + `';
CREATE INDEX IF NOT EXISTS decisions_service_entry_time ON decisions (service_entry, time_start, rid);
CREATE INDEX IF NOT EXISTS decisions_status_time ON decisions (status, time_start, rid);
CREATE INDEX IF NOT EXISTS decisions_reason_time ON decisions (reason, time_start, rid) WHERE reason <> '';
CREATE INDEX IF NOT EXISTS decisions_event_time ON decisions (event, time_start, rid);
CREATE INDEX IF NOT EXISTS decisions_path ON decisions (path text_pattern_ops);
CREATE TABLE IF NOT EXISTS log_leaves (
	gateway    text     NOT NULL,
	leaf       bigint   NOT NULL,
	seq        bigint   NOT NULL,
	id         text     NOT NULL,
	time_start bigint   NOT NULL,
	version    smallint NOT NULL,
	hashes     bytea    NOT NULL,
	PRIMARY KEY (gateway, leaf)
);
CREATE INDEX IF NOT EXISTS log_leaves_id ON log_leaves (id);
CREATE TABLE IF NOT EXISTS log_checkpoints (
	gateway text        NOT NULL,
	size    bigint      NOT NULL,
	time    timestamptz NOT NULL,
	note    text        NOT NULL,
	PRIMARY KEY (gateway, size)
);`

// arrayType is the type of a column's array in unnest($n::type): jsonb
// is sent as text.
func arrayType(t audit.Type) string {
	if t == audit.List {
		return "text[]"
	}
	return dialect{}.Type(t) + "[]"
}

// unnest is "unnest($1::text[], …) AS u(id, …)" for the input columns
// named names, of types types.
func unnest(names []string, types []audit.Type) string {
	params := make([]string, len(names))
	for i, t := range types {
		params[i] = fmt.Sprintf("$%d::%s", i+1, arrayType(t))
	}
	return "unnest(" + strings.Join(params, ", ") + ") AS u(" + strings.Join(names, ", ") + ")"
}

// value is the expression that stores input column c of u.
func value(c audit.Column) string {
	if c.Type == audit.List {
		return "u." + c.Name + "::jsonb"
	}
	return "u." + c.Name
}

func typesOf(cols []audit.Column) []audit.Type {
	out := make([]audit.Type, len(cols))
	for i, c := range cols {
		out[i] = c.Type
	}
	return out
}

// insertSQL inserts whole rows and returns their rid and id. With open,
// rows without time_end also go into open_calls (Begin); with guard, rows
// whose id is already stored are skipped (outcomes whose row is missing).
func (l *layout) insertSQL(open, guard bool) string {
	vals := make([]string, len(l.cols))
	for i, c := range l.cols {
		vals[i] = value(c)
	}
	names := sqlplan.Names(l.cols)
	q := "WITH ins AS (INSERT INTO decisions (" + strings.Join(names, ", ") + ") SELECT " +
		strings.Join(vals, ", ") + " FROM " + unnest(names, typesOf(l.cols))
	if guard {
		q += " WHERE NOT EXISTS (SELECT 1 FROM decisions x WHERE x.id = u.id)"
	}
	q += " RETURNING rid, id, gateway, time_end)"
	if open {
		q += ", oc AS (INSERT INTO open_calls (rid, gateway) SELECT rid, gateway FROM ins WHERE time_end IS NULL)"
	}
	return q + " SELECT rid, id FROM ins"
}

// updateSQL writes outcomes into their rows, found by rid and id (byRid)
// or by id alone, closes them in open_calls and returns the ids of the
// rows it found. Only open calls are updated: a record already complete
// is in its log and stays as it is (the first outcome stands). Its input
// columns are rid, id, then l.out.
func (l *layout) updateSQL(byRid bool) string {
	set := make([]string, len(l.out))
	for i, c := range l.out {
		set[i] = c.Name + " = " + value(c)
	}
	names := append([]string{"rid", "id"}, sqlplan.Names(l.out)...)
	types := append([]audit.Type{audit.Int64, audit.Text}, typesOf(l.out)...)
	where := "d.id = u.id AND d.time_end IS NULL"
	if byRid {
		where = "d.rid = u.rid AND d.id = u.id AND d.time_end IS NULL"
	}
	return "WITH up AS (UPDATE decisions d SET " + strings.Join(set, ", ") + " FROM " + unnest(names, types) +
		" WHERE " + where + " RETURNING d.rid, d.id), del AS (DELETE FROM open_calls o USING up WHERE o.rid = up.rid)" +
		" SELECT id FROM up"
}

// insertArgs are the arrays of insertSQL for recs.
func (l *layout) insertArgs(recs []*audit.Record) []any {
	args := make([]any, len(l.cols))
	for i, c := range l.cols {
		args[i] = array(c, recs)
	}
	return args
}

// updateArgs are the arrays of updateSQL for recs.
func (l *layout) updateArgs(recs []*audit.Record) []any {
	rids := make([]int64, len(recs))
	for i, r := range recs {
		rids[i] = r.Row().ID
	}
	args := []any{rids, array(l.cols[0], recs)}
	for _, c := range l.out {
		args = append(args, array(c, recs))
	}
	return args
}

// array is column c of recs as the typed slice pgx sends as an array.
func array(c audit.Column, recs []*audit.Record) any {
	switch c.Type {
	case audit.Text, audit.List:
		return column[string](c, recs)
	case audit.Uint, audit.Int64:
		return column[int64](c, recs)
	case audit.Int, audit.Count:
		return column[int32](c, recs)
	case audit.Float:
		return column[float64](c, recs)
	case audit.Bool:
		return column[bool](c, recs)
	case audit.Time:
		ts := column[time.Time](c, recs)
		out := make([]pgtype.Timestamptz, len(ts))
		for i, t := range ts {
			out[i] = pgtype.Timestamptz{Time: t, Valid: true}
		}
		return out
	}
	return column[pgtype.Timestamptz](c, recs) // OptTime
}

// column is column c of recs, each value as the dialect's Arg gives it.
func column[T any](c audit.Column, recs []*audit.Record) []T {
	a := make([]T, len(recs))
	for j, r := range recs {
		a[j] = dialect{}.Arg(c.Type, c.Field(r)).(T)
	}
	return a
}

// insertLeavesSQL appends rows to log_leaves.
const insertLeavesSQL = `INSERT INTO log_leaves (gateway, leaf, seq, id, time_start, version, hashes)
	SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::smallint[], $7::bytea[])`

// leavesArgs are insertLeavesSQL's arrays for leaves.
func leavesArgs(leaves []audit.LogLeaf) []any {
	n := len(leaves)
	gws, ids := make([]string, n), make([]string, n)
	idx, seqs, ts := make([]int64, n), make([]int64, n), make([]int64, n)
	vers, hashes := make([]int16, n), make([][]byte, n)
	for i, l := range leaves {
		gws[i], idx[i], seqs[i], ids[i] = l.Gateway, l.Index, int64(l.Seq), l.ID
		ts[i], vers[i], hashes[i] = l.TimeStart.UnixMilli(), int16(l.Version), l.Hashes
	}
	return []any{gws, idx, seqs, ids, ts, vers, hashes}
}
