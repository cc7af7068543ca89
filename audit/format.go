package audit

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/internal/vocab"
)

// Formats of `sluice audit query`.
const (
	FormatTable = "table" // aligned columns, a readable subset
	FormatJSON  = "json"  // JSON lines, every field
	FormatCSV   = "csv"   // a header, then every field
)

// RecordWriter writes records in one output format.
type RecordWriter interface {
	Write(r *Record) error
	// Flush writes anything buffered (the table aligns its columns over
	// every row, so it prints at Flush).
	Flush() error
}

// NewRecordWriter returns a writer of format table, json or csv.
func NewRecordWriter(w io.Writer, format string) (RecordWriter, error) {
	switch format {
	case FormatTable, "":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tSOURCE\tDECISION\tREASON\tMETHOD\tDESTINATION\tSTATUS\tDURATION\tBYTES\tCOST\tID")
		return &tableWriter{tw: tw}, nil
	case FormatJSON:
		return &jsonWriter{enc: json.NewEncoder(w)}, nil
	case FormatCSV:
		cw := csv.NewWriter(w)
		if err := cw.Write(Columns()); err != nil {
			return nil, err
		}
		return &csvWriter{cw: cw}, nil
	default:
		return nil, fmt.Errorf("unknown format %q (use table, json or csv)", format)
	}
}

type tableWriter struct{ tw *tabwriter.Writer }

func (t *tableWriter) Write(r *Record) error {
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
		if r.Status == 0 && r.Error != "" {
			status = clip(r.Error, 40) // the call never got a status; the reason column says why
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
		r.TimeStart.UTC().Format(TimeLayout), dash(r.Source()), dash(decision), dash(r.Reason), dash(r.Method),
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

func (j *jsonWriter) Write(r *Record) error { return j.enc.Encode(r) }
func (j *jsonWriter) Flush() error          { return nil }

type csvWriter struct{ cw *csv.Writer }

func (c *csvWriter) Write(r *Record) error { return c.cw.Write(r.Fields()) }
func (c *csvWriter) Flush() error {
	c.cw.Flush()
	return c.cw.Error()
}

// WriteCost writes a cost report as table (with a total per currency),
// csv or json.
func WriteCost(w io.Writer, format string, by []string, rows []CostRow) error {
	key := func(r *CostRow, k string) string {
		switch k {
		case "source":
			return r.Source
		case "destination":
			return r.Destination
		default:
			return r.Meter
		}
	}
	money := func(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }
	switch format {
	case FormatTable, "":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		var head []string
		for _, k := range by {
			head = append(head, strings.ToUpper(k))
		}
		head = append(head, "CALLS", "BYTES", "COST", "CURRENCY")
		fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
		type total struct {
			calls, bytes int64
			cost         float64
		}
		totals := map[string]*total{}
		for i := range rows {
			r := &rows[i]
			var cells []string
			for _, k := range by {
				cells = append(cells, dash(key(r, k)))
			}
			cells = append(cells, strconv.FormatInt(r.Calls, 10), strconv.FormatInt(r.Bytes, 10), money(r.Cost), dash(r.Currency))
			fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
			t := totals[r.Currency]
			if t == nil {
				t = &total{}
				totals[r.Currency] = t
			}
			t.calls, t.bytes, t.cost = t.calls+r.Calls, t.bytes+r.Bytes, t.cost+r.Cost
		}
		if len(by) > 0 && len(rows) > 1 {
			currencies := make([]string, 0, len(totals))
			for c := range totals {
				currencies = append(currencies, c)
			}
			slices.Sort(currencies)
			for _, c := range currencies {
				t := totals[c]
				cells := []string{"TOTAL"}
				for range by[1:] {
					cells = append(cells, "")
				}
				cells = append(cells, strconv.FormatInt(t.calls, 10), strconv.FormatInt(t.bytes, 10), money(t.cost), dash(c))
				fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
			}
		}
		return tw.Flush()
	case FormatCSV:
		cw := csv.NewWriter(w)
		head := append(append([]string(nil), by...), "calls", "bytes", "cost", "currency")
		if err := cw.Write(head); err != nil {
			return err
		}
		for i := range rows {
			r := &rows[i]
			var cells []string
			for _, k := range by {
				cells = append(cells, key(r, k))
			}
			cells = append(cells, strconv.FormatInt(r.Calls, 10), strconv.FormatInt(r.Bytes, 10),
				strconv.FormatFloat(r.Cost, 'f', -1, 64), r.Currency)
			if err := cw.Write(cells); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case FormatJSON:
		enc := json.NewEncoder(w)
		for i := range rows {
			if err := enc.Encode(&rows[i]); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("unknown format %q (use table, csv or json)", format)
	}
}
