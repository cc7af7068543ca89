package httpapi

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/format"
)

// NewExport serves GET /v1/audit/export?format=csv|jsonl&<filter>: every
// record of the filter (limit 0, the default here, means all), newest
// first, as CSV (a header, then every column) or JSON lines, as a
// download. The console's "Export" uses it; it is a read of the records
// like GET /v1/audit, and recorded the same way.
func NewExport(r audit.Reader, opts Options) http.Handler {
	h := New(r, opts).(*handler)
	return http.HandlerFunc(h.export)
}

func (h *handler) export(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	kind := q.Get("format")
	q.Del("format")
	var ctype, ext, wformat string
	switch kind {
	case "", "csv":
		ctype, ext, wformat = "text/csv; charset=utf-8", "csv", format.CSV
	case "jsonl", "json":
		ctype, ext, wformat = "application/x-ndjson", "jsonl", format.JSON
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("format: %q (use csv or jsonl)", kind)})
		return
	}
	if !q.Has("limit") {
		q.Set("limit", "0")
	}
	f, err := audit.FilterFromQuery(q, h.now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if !h.recordRead(w, req) {
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="sluice-records-`+h.now().UTC().Format("20060102T150405Z")+"."+ext+`"`)
	rw, err := format.NewRecordWriter(w, wformat)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	err = h.r.Query(req.Context(), f, rw.Write)
	if ferr := rw.Flush(); err == nil {
		err = ferr
	}
	if err != nil && req.Context().Err() == nil {
		// Too late for a status: the export ends with a line that says so.
		_, _ = fmt.Fprintf(w, "\n# export incomplete: %s\n", url.QueryEscape(err.Error()))
	}
}
