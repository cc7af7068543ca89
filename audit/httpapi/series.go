package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/config"
)

// maxBuckets caps the buckets of one series.
const maxBuckets = 400

// Bucket is one step of a cost series: the rows of the calls that started
// in [Start, End).
type Bucket struct {
	Start time.Time       `json:"start"`
	End   time.Time       `json:"end"`
	Rows  []audit.CostRow `json:"rows"`
}

// seriesResponse is the body of GET /v1/cost/series.
type seriesResponse struct {
	Since   time.Time `json:"since"`
	Until   time.Time `json:"until"`
	Step    string    `json:"step"`
	By      []string  `json:"by"`
	Buckets []Bucket  `json:"buckets"`
}

// NewSeries serves GET /v1/cost/series?since=…&until=…&step=1h&by=…: the
// cost report of each step of the range, for the console's charts (by
// workload × destination × meter over time). One read, recorded once;
// each bucket is a cost query the store answers from its hourly rollup.
// step defaults to a day, or an hour for ranges up to two days; at most
// 400 buckets.
func NewSeries(r audit.Reader, opts Options) http.Handler {
	h := New(r, opts).(*handler)
	return http.HandlerFunc(h.series)
}

func (h *handler) series(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	stepArg := q.Get("step")
	q.Del("step")
	cq, err := audit.CostQueryFromQuery(q, h.now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	until := cq.Until
	if until.IsZero() {
		until = h.now().UTC()
	}
	step := 24 * time.Hour
	if until.Sub(cq.Since) <= 48*time.Hour {
		step = time.Hour
	}
	if stepArg != "" {
		d, err := config.ParseDuration(stepArg)
		if err != nil || d < time.Minute {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("step: %q (a duration of at least 1m: 1h, 1d)", stepArg)})
			return
		}
		step = d
	}
	// Buckets on whole steps (UTC), so that they line up with the hourly
	// rollup and from one view to the next.
	start := cq.Since.Truncate(step)
	if n := until.Sub(start) / step; n > maxBuckets {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("%d buckets of %s: at most %d (a longer step)", n, step, maxBuckets)})
		return
	}
	if !h.recordRead(w, req) {
		return
	}
	resp := seriesResponse{Since: start, Until: until, Step: step.String(), By: cq.By, Buckets: []Bucket{}}
	if resp.By == nil {
		resp.By = []string{}
	}
	for b := start; b.Before(until); b = b.Add(step) {
		e := b.Add(step)
		if e.After(until) {
			e = until
		}
		from := b
		if from.Before(cq.Since) {
			from = cq.Since // the first bucket counts from since, not from its whole step
		}
		rows, err := h.r.Cost(req.Context(), audit.CostQuery{Since: from, Until: e, By: cq.By})
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		if rows == nil {
			rows = []audit.CostRow{}
		}
		resp.Buckets = append(resp.Buckets, Bucket{Start: b, End: e, Rows: rows})
	}
	writeJSON(w, http.StatusOK, resp)
}
