package audit

import (
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

// TimeLayout is how time_start and time_end are stored: UTC with
// milliseconds, fixed width, so that text order is time order and SQLite's
// strftime('%Y-%m-%dT%H:%M:%fZ', …) produces comparable values.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// columns are the record columns in view order; CSV output uses the same
// order. Each is the JSON name of a Record field.
var columns = []string{
	"id", "seq", "gateway", "time_start", "time_end", "duration_ms", "event",
	"source_identity", "identity_source", "source_ip", "source_workload",
	"listener", "kind", "method", "host", "port", "path", "sni", "service_entry",
	"dialed_ip", "tls_originated", "tls_version",
	"decision", "enforced", "reason", "policy_rules",
	"status", "error", "bytes_sent", "bytes_received", "meter", "cost", "currency", "trace_id",
	"count",
}

// Columns returns the record column names in view (and CSV) order.
func Columns() []string { return append([]string(nil), columns...) }

// decisionColumns are the columns of the decisions table after rid.
var decisionColumns = []string{
	"id", "seq", "gateway", "time_start", "event",
	"source_identity", "identity_source", "source_ip", "source_workload",
	"listener", "kind", "method", "host", "port", "path", "sni", "service_entry", "tls_originated",
	"decision", "enforced", "reason", "policy_rules", "trace_id", "count",
}

// outcomeColumns are the columns of the outcomes table after rid: what
// End may set or change.
var outcomeColumns = []string{
	"time_end", "duration_ms", "sni", "dialed_ip", "tls_originated", "tls_version", "reason",
	"status", "error", "bytes_sent", "bytes_received", "meter", "cost", "currency", "trace_id",
}

const tableDDL = `CREATE TABLE IF NOT EXISTS decisions (
	rid             INTEGER PRIMARY KEY,
	id              TEXT    NOT NULL,
	seq             INTEGER NOT NULL,
	gateway         TEXT    NOT NULL,
	time_start      TEXT    NOT NULL,
	event           TEXT    NOT NULL,
	source_identity TEXT    NOT NULL,
	identity_source TEXT    NOT NULL,
	source_ip       TEXT    NOT NULL,
	source_workload TEXT    NOT NULL,
	listener        TEXT    NOT NULL,
	kind            TEXT    NOT NULL,
	method          TEXT    NOT NULL,
	host            TEXT    NOT NULL,
	port            INTEGER NOT NULL,
	path            TEXT    NOT NULL,
	sni             TEXT    NOT NULL,
	service_entry   TEXT    NOT NULL,
	tls_originated  INTEGER NOT NULL,
	decision        TEXT    NOT NULL,
	enforced        INTEGER NOT NULL,
	reason          TEXT    NOT NULL,
	policy_rules    TEXT    NOT NULL,
	trace_id        TEXT    NOT NULL,
	count           INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outcomes (
	rid            INTEGER PRIMARY KEY,
	time_end       TEXT,
	duration_ms    REAL,
	sni            TEXT,
	dialed_ip      TEXT,
	tls_originated INTEGER,
	tls_version    TEXT,
	reason         TEXT,
	status         INTEGER,
	error          TEXT,
	bytes_sent     INTEGER,
	bytes_received INTEGER,
	meter          TEXT,
	cost           REAL,
	currency       TEXT,
	trace_id       TEXT
);
CREATE TABLE IF NOT EXISTS open_calls (
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
CREATE VIEW IF NOT EXISTS records AS SELECT
	d.id, d.seq, d.gateway, d.time_start, o.time_end, coalesce(o.duration_ms, 0) AS duration_ms, d.event,
	d.source_identity, d.identity_source, d.source_ip, d.source_workload,
	d.listener, d.kind, d.method, d.host, d.port, d.path, coalesce(o.sni, d.sni) AS sni, d.service_entry,
	coalesce(o.dialed_ip, '') AS dialed_ip, coalesce(o.tls_originated, d.tls_originated) AS tls_originated,
	coalesce(o.tls_version, '') AS tls_version,
	d.decision, d.enforced, coalesce(o.reason, d.reason) AS reason, d.policy_rules,
	coalesce(o.status, 0) AS status, coalesce(o.error, '') AS error,
	coalesce(o.bytes_sent, 0) AS bytes_sent, coalesce(o.bytes_received, 0) AS bytes_received,
	coalesce(o.meter, '') AS meter, coalesce(o.cost, 0) AS cost, coalesce(o.currency, '') AS currency,
	coalesce(o.trace_id, d.trace_id) AS trace_id,
	d.count, d.rid
FROM decisions d LEFT JOIN outcomes o ON o.rid = d.rid;`

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
	`CREATE INDEX IF NOT EXISTS decisions_denied_time ON decisions(time_start) WHERE decision = 'deny'`,
	// Replaced by decisions_denied_time; a store created before keeps
	// paying for it on every insert unless it goes.
	`DROP INDEX IF EXISTS decisions_decision_time`,
}

// formatTime renders t in TimeLayout; the zero time is "".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeLayout)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// rulesJSON renders policy_rules as a JSON array.
func rulesJSON(rules []string) string {
	if len(rules) == 0 {
		return "[]"
	}
	simple := true
	for _, r := range rules {
		for i := 0; i < len(r) && simple; i++ {
			simple = r[i] >= 0x20 && r[i] < 0x7f && r[i] != '"' && r[i] != '\\'
		}
	}
	if !simple {
		b, _ := json.Marshal(rules)
		return string(b)
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, r := range rules {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(r)
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String()
}

func countOf(r *Record) int64 {
	if r.Count < 1 {
		return 1
	}
	return int64(r.Count)
}

// appendDecisionArgs appends rid and the decisionColumns of r.
func appendDecisionArgs(args []any, rid int64, r *Record) []any {
	return append(args, rid,
		r.ID, int64(r.Seq), r.Gateway, formatTime(r.TimeStart), r.Event,
		r.SourceIdentity, r.IdentitySource, r.SourceIP, r.SourceWorkload,
		r.Listener, r.Kind, r.Method, r.Host, int64(r.Port), r.Path, r.SNI, r.ServiceEntry, boolInt(r.TLSOriginated),
		r.Decision, boolInt(r.Enforced), r.Reason, rulesJSON(r.PolicyRules), r.TraceID, countOf(r),
	)
}

// appendOutcomeArgs appends rid and the outcomeColumns of r.
func appendOutcomeArgs(args []any, rid int64, r *Record) []any {
	return append(args, rid,
		formatTime(r.TimeEnd), r.DurationMS, r.SNI, r.DialedIP, boolInt(r.TLSOriginated), r.TLSVersion, r.Reason,
		int64(r.Status), r.Error, r.BytesSent, r.BytesReceived, r.Meter, r.Cost, r.Currency, r.TraceID,
	)
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
	return "INSERT OR ROLLBACK INTO decisions (rid, " + strings.Join(decisionColumns, ", ") + ") VALUES " +
		valuesSQL(n, len(decisionColumns)+1)
}

// upsertOutcomesSQL appends n outcome rows; a second outcome for the same
// call (End called twice) replaces the first rather than failing the batch.
func upsertOutcomesSQL(n int) string {
	set := make([]string, len(outcomeColumns))
	for i, c := range outcomeColumns {
		set[i] = c + " = excluded." + c
	}
	return "INSERT OR ROLLBACK INTO outcomes (rid, " + strings.Join(outcomeColumns, ", ") + ") VALUES " +
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
	return k, costSum{calls: countOf(r), bytes: r.BytesSent + r.BytesReceived, cost: r.Cost}, true
}

func insertOpenSQL(n int) string {
	return "INSERT OR ROLLBACK INTO open_calls (rid, gateway) VALUES " + valuesSQL(n, 2)
}

func deleteOpenSQL(n int) string {
	return "DELETE FROM open_calls WHERE rid IN (" + strings.TrimSuffix(strings.Repeat("?,", n), ",") + ")"
}

// selectList is the column list of a query on the records view: every
// record column, then rid.
func selectList() string { return strings.Join(columns, ", ") + ", rid" }

// scanRecord reads one row selected with selectList.
func scanRecord(rows *sql.Rows) (Record, error) {
	var (
		r                 Record
		seq, port, status int64
		start             string
		end               sql.NullString
		tlsOrig, enforced int64
		rules             string
		count             int64
	)
	err := rows.Scan(
		&r.ID, &seq, &r.Gateway, &start, &end, &r.DurationMS, &r.Event,
		&r.SourceIdentity, &r.IdentitySource, &r.SourceIP, &r.SourceWorkload,
		&r.Listener, &r.Kind, &r.Method, &r.Host, &port, &r.Path, &r.SNI, &r.ServiceEntry,
		&r.DialedIP, &tlsOrig, &r.TLSVersion,
		&r.Decision, &enforced, &r.Reason, &rules,
		&status, &r.Error, &r.BytesSent, &r.BytesReceived, &r.Meter, &r.Cost, &r.Currency, &r.TraceID,
		&count, &r.rid,
	)
	if err != nil {
		return r, err
	}
	r.Seq, r.Port, r.Status = uint64(seq), int(port), int(status)
	r.TLSOriginated, r.Enforced = tlsOrig != 0, enforced != 0
	r.Count = int(count)
	if r.TimeStart, err = parseTime(start); err != nil {
		return r, fmt.Errorf("record %s: time_start: %w", r.ID, err)
	}
	if end.Valid {
		if r.TimeEnd, err = parseTime(end.String); err != nil {
			return r, fmt.Errorf("record %s: time_end: %w", r.ID, err)
		}
	}
	if rules != "" && rules != "[]" {
		if err := json.Unmarshal([]byte(rules), &r.PolicyRules); err != nil {
			return r, fmt.Errorf("record %s: policy_rules: %w", r.ID, err)
		}
	}
	return r, nil
}
