package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/sluicehq/sluice/audit"
)

// Tail timing: how often the store is asked for new records, how far back
// each ask looks (a record reaches the store up to an ingest delay after
// its time_start, and a call's record carries its start time), and how
// long one tail lasts before the client reconnects.
const (
	tailEvery   = time.Second
	tailOverlap = 10 * time.Second
	tailMax     = time.Hour
)

// NewTail serves GET /v1/audit/tail?<filter>: the records of the filter
// that reach the store from now on, oldest first, as JSON lines, one
// flush per poll, for up to an hour (the client then asks again). A tail
// is one read of the records, recorded once when it starts.
func NewTail(r audit.Reader, opts Options) http.Handler {
	h := New(r, opts).(*handler)
	return http.HandlerFunc(h.tail)
}

func (h *handler) tail(w http.ResponseWriter, req *http.Request) {
	f, err := audit.FilterFromQuery(req.URL.Query(), h.now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if !h.recordRead(w, req) {
		return
	}
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	start := h.now()
	from := start
	if f.Since.After(from) {
		from = f.Since
	}
	seen := map[string]time.Time{} // id → time_start, of the records sent
	enc := json.NewEncoder(w)
	tick := time.NewTicker(tailEvery)
	defer tick.Stop()
	end := time.NewTimer(tailMax)
	defer end.Stop()
	for {
		select {
		case <-req.Context().Done():
			return
		case <-end.C:
			return
		case <-tick.C:
		}
		q := f
		q.Since, q.Limit, q.After = from.Add(-tailOverlap), 1000, ""
		if q.Since.Before(f.Since) {
			q.Since = f.Since
		}
		if q.Since.Before(start) {
			q.Since = start
		}
		var fresh []*audit.Record
		err := h.r.Query(req.Context(), q, func(r *audit.Record) error {
			if _, ok := seen[r.ID]; !ok {
				c := *r
				fresh = append(fresh, &c)
			}
			return nil
		})
		if err != nil {
			return
		}
		slices.Reverse(fresh) // oldest first
		for _, r := range fresh {
			seen[r.ID] = r.TimeStart
			if r.TimeStart.After(from) {
				from = r.TimeStart
			}
			if enc.Encode(r) != nil {
				return
			}
		}
		for id, ts := range seen {
			if ts.Before(from.Add(-2 * tailOverlap)) {
				delete(seen, id)
			}
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}
