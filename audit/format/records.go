// Package format writes audit records and cost reports for people and
// programs (`sluice audit query`, `sluice cost report`): an aligned
// table, JSON lines, or CSV. JSON and CSV carry every column of the record
// schema (audit/columns.go), named as docs/contract.md §8 names them.
package format

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/vocab"
)

// Formats of `sluice audit query` and `sluice cost report`.
const (
	Table = "table" // aligned columns, a readable subset
	JSON  = "json"  // JSON lines, every field
	CSV   = "csv"   // a header, then every field
)

// RecordWriter writes records in one output format.
type RecordWriter interface {
	Write(r *audit.Record) error
	// Flush writes anything buffered (the table aligns its columns over
	// every row, so it prints at Flush).
	Flush() error
}

// NewRecordWriter returns a writer of format table, json or csv; the
// table shows times in UTC.
func NewRecordWriter(w io.Writer, format string) (RecordWriter, error) {
	return NewRecordWriterIn(w, format, time.UTC)
}

// NewRecordWriterIn is NewRecordWriter with the table's times in loc
// (`--tz`), with their offset; JSON and CSV stay in UTC.
func NewRecordWriterIn(w io.Writer, format string, loc *time.Location) (RecordWriter, error) {
	switch format {
	case Table, "":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tSOURCE\tDECISION\tREASON\tMETHOD\tDESTINATION\tSTATUS\tDURATION\tBYTES\tCOST\tID")
		return &tableWriter{tw: tw, loc: loc}, nil
	case JSON:
		return &jsonWriter{enc: json.NewEncoder(w)}, nil
	case CSV:
		cw := csv.NewWriter(w)
		if err := cw.Write(audit.Columns()); err != nil {
			return nil, err
		}
		return &csvWriter{cw: cw}, nil
	default:
		return nil, fmt.Errorf("unknown format %q (use table, json or csv)", format)
	}
}

type tableWriter struct {
	tw  *tabwriter.Writer
	loc *time.Location // nil or UTC: audit.TimeLayout
}

// LocalLayout is how the table shows a time outside UTC: local time and
// its offset, so that a line is never ambiguous.
const LocalLayout = "2006-01-02 15:04:05.000 -07:00"

func (t *tableWriter) time(ts time.Time) string {
	if t.loc == nil || t.loc == time.UTC {
		return ts.UTC().Format(audit.TimeLayout)
	}
	return ts.In(t.loc).Format(LocalLayout)
}

func (t *tableWriter) Write(r *audit.Record) error {
	dest := r.Host
	if r.Port != 0 {
		dest += ":" + strconv.Itoa(r.Port)
	}
	if r.Path != "" {
		dest += clip(r.Path, 48)
	}
	status, dur, bytes, cost := "-", "-", "-", "-"
	if !r.TimeEnd.IsZero() {
		status = strconv.Itoa(r.Status)
		if r.Status == 0 && (r.Error != "" || r.Reason != "") {
			status = failedStatus(r) // the call never got a status; the reason column says why
		}
		dur = (time.Duration(r.DurationMS * float64(time.Millisecond))).Round(time.Millisecond / 10).String()
		bytes = strconv.FormatInt(r.BytesSent, 10) + "/" + strconv.FormatInt(r.BytesReceived, 10)
		if r.Cost != 0 {
			cost = strconv.FormatFloat(r.Cost, 'f', -1, 64) + " " + r.Currency
		}
	}
	decision := r.Decision
	if r.Decision == vocab.DecisionDeny && !r.Enforced {
		decision = "deny(report)"
	}
	if r.Count > 1 {
		decision += " ×" + strconv.Itoa(r.Count)
	}
	_, err := fmt.Fprintf(t.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
		t.time(r.TimeStart), dash(r.Source()), dash(decision), dash(reasonOf(r)), dash(r.Method),
		dash(dest), status, dur, bytes, cost, r.ID)
	return err
}

func (t *tableWriter) Flush() error { return t.tw.Flush() }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

type jsonWriter struct{ enc *json.Encoder }

func (j *jsonWriter) Write(r *audit.Record) error { return j.enc.Encode(r) }
func (j *jsonWriter) Flush() error                { return nil }

type csvWriter struct{ cw *csv.Writer }

func (c *csvWriter) Write(r *audit.Record) error { return c.cw.Write(r.Fields()) }
func (c *csvWriter) Flush() error {
	c.cw.Flush()
	return c.cw.Error()
}

// failedStatus is the STATUS of a call that ended without an HTTP status
// (a tunnel that failed or was cut): the status its reason answers with
// when it has one (502 for upstream_unreachable), else "failed"; never
// the error string, which is in JSON and CSV.
func failedStatus(r *audit.Record) string {
	if r.Reason != "" {
		return strconv.Itoa(vocab.Reason(r.Reason).Status())
	}
	return "failed"
}

// reasonOf is the REASON of a record: its reason code, or for a call that
// failed without one a short word for its error.
func reasonOf(r *audit.Record) string {
	if r.Reason != "" || r.Error == "" {
		return r.Reason
	}
	return clip(shortError(r.Error), 24)
}
