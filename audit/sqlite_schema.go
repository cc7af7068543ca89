package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/vocab"
)

// The SQLite layout. Rows are only ever appended (and pruned by
// retention), never rewritten:
//
//   - decisions: the decision part of each record, written before the
//     call is dialled; carries every index.
//   - outcomes: one row per finished call (same rid), appended by End.
//   - open_calls: rids of calls begun and not yet ended; what a restart
//     closes with error gateway_restart.
//   - cost_hourly: calls, bytes and cost of ended calls per hour of
//     time_start, source, destination, meter and currency, kept in the
//     same transaction as the outcomes; cost reports read it instead of
//     every record.
//   - records: a view joining them, with exactly the columns of docs/contract.md
//     section 8 (and rid). Query this one.
//   - store_meta: the file's random id (store_id), which the high-water
//     mark records to tell a replaced file from the same one.
//
// Appending the outcome instead of updating the decision row halves the
// cost of End and keeps decision pages packed.

// schemaVersion is stored in PRAGMA user_version; a store written by a
// newer Sluice is refused rather than misread.
const schemaVersion = 1

// decisionColumns are the columns of the decisions table after rid: the
// record columns the decision part sets.
var decisionColumns = columnsWhere(func(c Column) bool { return c.Part.InDecision() })

// outcomeColumns are the columns of the outcomes table after rid: what
// End may set or change.
var outcomeColumns = columnsWhere(func(c Column) bool { return c.Part.InOutcome() })

// columnsWhere lists the record columns for which keep is true, in
// schema order.
func columnsWhere(keep func(Column) bool) []Column {
	var out []Column
	for _, c := range columns {
		if keep(c) {
			out = append(out, c)
		}
	}
	return out
}

// names lists the names of cols.
func names(cols []Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}

// sqliteType is the SQLite type of a record column.
func sqliteType(t Type) string {
	switch t {
	case Uint, Int, Int64, Count, Bool:
		return "INTEGER"
	case Float:
		return "REAL"
	}
	return "TEXT"
}

// sqliteZero is the SQL literal of a column's zero value, as stored.
func sqliteZero(t Type) string {
	switch t {
	case Uint, Int, Int64, Bool, Float:
		return "0"
	case Count:
		return "1"
	case List:
		return "'[]'"
	}
	return "''"
}

// tableDDL creates the decisions and outcomes tables and the tables of
// the store's own bookkeeping.
func tableDDL() string {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS decisions (\n\trid INTEGER PRIMARY KEY")
	for _, c := range decisionColumns {
		fmt.Fprintf(&b, ",\n\t%s %s NOT NULL", c.Name, sqliteType(c.Type))
	}
	b.WriteString("\n);\nCREATE TABLE IF NOT EXISTS outcomes (\n\trid INTEGER PRIMARY KEY")
	for _, c := range outcomeColumns {
		fmt.Fprintf(&b, ",\n\t%s %s", c.Name, sqliteType(c.Type))
	}
	b.WriteString("\n);\n")
	b.WriteString(bookkeepingDDL)
	return b.String()
}

// viewDDL creates the records view: every record column in schema order
// (the outcome's value where the call has one, the decision's, else the
// zero value), then rid.
func viewDDL() string {
	sel := make([]string, 0, len(columns)+1)
	for _, c := range columns {
		switch {
		case c.Part == PartDecision:
			sel = append(sel, "d."+c.Name)
		case c.Part == PartBoth:
			sel = append(sel, fmt.Sprintf("coalesce(o.%[1]s, d.%[1]s) AS %[1]s", c.Name))
		case c.Type == OptTime:
			sel = append(sel, "o."+c.Name)
		default:
			sel = append(sel, fmt.Sprintf("coalesce(o.%[1]s, %[2]s) AS %[1]s", c.Name, sqliteZero(c.Type)))
		}
	}
	sel = append(sel, "d.rid")
	return "CREATE VIEW records AS SELECT\n\t" + strings.Join(sel, ",\n\t") +
		"\nFROM decisions d LEFT JOIN outcomes o ON o.rid = d.rid"
}

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
`

// indexDDL keeps typical queries (newest first, by host, source or
// decision, within a time range) on an index. Every index also carries
// rid, which breaks ties in time order.
var indexDDL = []string{
	`CREATE UNIQUE INDEX IF NOT EXISTS decisions_id ON decisions(id)`,
	`CREATE INDEX IF NOT EXISTS decisions_time ON decisions(time_start)`,
	`CREATE INDEX IF NOT EXISTS decisions_host_time ON decisions(host, time_start)`,
	`CREATE INDEX IF NOT EXISTS decisions_identity_time ON decisions(source_identity, time_start)`,
	`CREATE INDEX IF NOT EXISTS decisions_workload_time ON decisions(source_workload, time_start)`,
	// Denials are what auditors filter on and are few: a partial index
	// serves "--decision deny" without every allowed call paying for it.
	`CREATE INDEX IF NOT EXISTS decisions_denied_time ON decisions(time_start) WHERE decision = '` + vocab.DecisionDeny + `'`,
	// Replaced by decisions_denied_time; a store created before keeps
	// paying for it on every insert unless it goes.
	`DROP INDEX IF EXISTS decisions_decision_time`,
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// sqliteArg is the statement argument that stores the field p points to
// (of type t).
func sqliteArg(t Type, p any) any {
	switch t {
	case Text:
		return *p.(*string)
	case Uint:
		return int64(*p.(*uint64))
	case Int:
		return int64(*p.(*int))
	case Count:
		return int64(max(*p.(*int), 1))
	case Int64:
		return *p.(*int64)
	case Float:
		return *p.(*float64)
	case Bool:
		return boolInt(*p.(*bool))
	case Time, OptTime:
		return formatTime(*p.(*time.Time))
	case List:
		return rulesJSON(*p.(*[]string))
	}
	return nil
}

// appendRowArgs appends rid and the values of cols of r.
func appendRowArgs(args []any, rid int64, cols []Column, r *Record) []any {
	args = append(args, rid)
	for i := range cols {
		args = append(args, sqliteArg(cols[i].Type, cols[i].Field(r)))
	}
	return args
}

// valuesSQL is "(?,…),(?,…)": n rows of width placeholders.
func valuesSQL(n, width int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", width), ",") + ")"
	return strings.TrimSuffix(strings.Repeat(row+",", n), ",")
}

// insertDecisionsSQL inserts n decision rows. OR ROLLBACK: a failure rolls
// back the whole batch (which fails as a whole anyway), so SQLite needs no
// statement journal — with one, every multi-row insert copied each page
// it touched to a temp file, a fivefold slowdown.
func insertDecisionsSQL(n int) string {
	return "INSERT OR ROLLBACK INTO decisions (rid, " + strings.Join(names(decisionColumns), ", ") + ") VALUES " +
		valuesSQL(n, len(decisionColumns)+1)
}

// upsertOutcomesSQL appends n outcome rows; a second outcome for the same
// call (End called twice) replaces the first rather than failing the batch.
func upsertOutcomesSQL(n int) string {
	set := make([]string, len(outcomeColumns))
	for i, c := range outcomeColumns {
		set[i] = c.Name + " = excluded." + c.Name
	}
	return "INSERT OR ROLLBACK INTO outcomes (rid, " + strings.Join(names(outcomeColumns), ", ") + ") VALUES " +
		valuesSQL(n, len(outcomeColumns)+1) + " ON CONFLICT (rid) DO UPDATE SET " + strings.Join(set, ", ")
}

// upsertCostSQL adds n groups to cost_hourly.
func upsertCostSQL(n int) string {
	return "INSERT OR ROLLBACK INTO cost_hourly (hour, source, destination, meter, currency, calls, bytes, cost) VALUES " +
		valuesSQL(n, 8) + " ON CONFLICT (hour, source, destination, meter, currency) DO UPDATE SET " +
		"calls = calls + excluded.calls, bytes = bytes + excluded.bytes, cost = cost + excluded.cost"
}

// costKey is a group of cost_hourly.
type costKey struct {
	hour, source, destination, meter, currency string
}

// costSum is what cost_hourly adds up per group.
type costSum struct {
	calls, bytes int64
	cost         float64
}

// costGroup returns the cost_hourly group of a finished record, and false
// for records that did not go out (enforced denials, DNS queries).
func costGroup(r *Record) (costKey, costSum, bool) {
	if (r.Event != "" && r.Event != vocab.EventOutboundCall) || (r.Decision == vocab.DecisionDeny && r.Enforced) {
		return costKey{}, costSum{}, false
	}
	k := costKey{
		hour:   formatTime(r.TimeStart.UTC().Truncate(time.Hour)),
		source: r.Source(), destination: r.Host, meter: r.Meter, currency: r.Currency,
	}
	return k, costSum{calls: int64(r.Calls()), bytes: r.BytesSent + r.BytesReceived, cost: r.Cost}, true
}

func insertOpenSQL(n int) string {
	return "INSERT OR ROLLBACK INTO open_calls (rid, gateway) VALUES " + valuesSQL(n, 2)
}

func deleteOpenSQL(n int) string {
	return "DELETE FROM open_calls WHERE rid IN (" + strings.TrimSuffix(strings.Repeat("?,", n), ",") + ")"
}

// selectList is the column list of a query on the records view: every
// record column, then rid.
func selectList() string { return strings.Join(Columns(), ", ") + ", rid" }

// rowScanner reads rows selected with selectList into Records: one
// holder per column, reused from row to row.
type rowScanner struct {
	dest []any
}

func newRowScanner() *rowScanner {
	s := &rowScanner{dest: make([]any, len(columns)+1)}
	for i, c := range columns {
		switch c.Type {
		case Text:
			s.dest[i] = new(string)
		case Uint, Int, Count, Int64, Bool:
			s.dest[i] = new(int64)
		case Float:
			s.dest[i] = new(float64)
		case Time, OptTime, List:
			s.dest[i] = new(sql.NullString)
		}
	}
	s.dest[len(columns)] = new(int64)
	return s
}

// scan reads the current row of rows into a new Record.
func (s *rowScanner) scan(rows *sql.Rows) (Record, error) {
	var r Record
	if err := rows.Scan(s.dest...); err != nil {
		return r, err
	}
	for i := range columns {
		c := &columns[i]
		if err := assignSQLite(c.Type, s.dest[i], c.Field(&r)); err != nil {
			return r, fmt.Errorf("record %s: %s: %w", r.ID, c.Name, err)
		}
	}
	r.rid = *s.dest[len(columns)].(*int64)
	return r, nil
}

// assignSQLite stores a scanned value (held by dest) into the field p
// points to (of type t).
func assignSQLite(t Type, dest, p any) error {
	switch t {
	case Text:
		*p.(*string) = *dest.(*string)
	case Uint:
		*p.(*uint64) = uint64(*dest.(*int64))
	case Int, Count:
		*p.(*int) = int(*dest.(*int64))
	case Int64:
		*p.(*int64) = *dest.(*int64)
	case Float:
		*p.(*float64) = *dest.(*float64)
	case Bool:
		*p.(*bool) = *dest.(*int64) != 0
	case Time, OptTime:
		v, err := parseTime(dest.(*sql.NullString).String)
		*p.(*time.Time) = v
		return err
	case List:
		if v := dest.(*sql.NullString).String; v != "" && v != "[]" {
			return json.Unmarshal([]byte(v), p)
		}
		*p.(*[]string) = nil
	}
	return nil
}

// migrate brings a store written by an earlier version up to the record
// schema: every column decisions or outcomes lacks is added (decisions'
// NOT NULL with its zero value as default, so existing rows read as zero),
// and the records view is recreated when it lacks a column. Columns a
// table has beyond the schema (written by a newer version) stay.
func migrate(ctx context.Context, conn *sql.Conn) error {
	for _, t := range []struct {
		table   string
		cols    []Column
		notNull bool
	}{{"decisions", decisionColumns, true}, {"outcomes", outcomeColumns, false}} {
		have, err := sqliteColumnsOf(ctx, conn, t.table)
		if err != nil {
			return fmt.Errorf("migrating %s: %w", t.table, err)
		}
		for _, c := range t.cols {
			if have[c.Name] {
				continue
			}
			ddl := fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", t.table, c.Name, sqliteType(c.Type))
			if t.notNull {
				ddl += " NOT NULL DEFAULT " + sqliteZero(c.Type)
			}
			if _, err := conn.ExecContext(ctx, ddl); err != nil {
				return fmt.Errorf("adding column %s to %s: %w", c.Name, t.table, err)
			}
		}
	}
	view, err := sqliteColumnsOf(ctx, conn, "records")
	if err != nil {
		return fmt.Errorf("migrating records: %w", err)
	}
	for _, name := range append(Columns(), "rid") {
		if !view[name] {
			if _, err := conn.ExecContext(ctx, "DROP VIEW IF EXISTS records; "+viewDDL()); err != nil {
				return fmt.Errorf("creating the records view: %w", err)
			}
			break
		}
	}
	return nil
}

// sqliteColumnsOf returns the column names of the table or view rel; none
// when it does not exist.
func sqliteColumnsOf(ctx context.Context, conn *sql.Conn, rel string) (map[string]bool, error) {
	rows, err := conn.QueryContext(ctx, "SELECT name FROM pragma_table_info(?)", rel)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		have[name] = true
	}
	return have, rows.Err()
}
