package format

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/sluicehq/sluice/audit"
)

// WriteCost writes a cost report as table (with a total per currency),
// csv or json.
func WriteCost(w io.Writer, format string, by []string, rows []audit.CostRow) error {
	key := func(r *audit.CostRow, k string) string {
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
	case Table, "":
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
	case CSV:
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
	case JSON:
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
