package audit

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/audit/spool"
)

// NewHandler serves the admin API's audit endpoints from r:
//
//	GET /v1/audit?since=24h&host=api.stripe.com&decision=deny&limit=100
//	  → {"records": [...], "count": N}, newest first (Filter fields; limit
//	    defaults to 100, 0 means no limit; records stream as they are read);
//	    served by an Auditor, also "damage": [...] (DamageEvent)
//	GET /v1/cost?since=720h&by=source,destination,meter
//	  → {"since": …, "until": …, "by": [...], "rows": [...]}
//
// Bad parameters get 400 with {"error": "..."}. The caller mounts it at
// both paths and checks the bearer token. now is the clock for relative
// times (nil: time.Now).
func NewHandler(r Reader, now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	return &handler{r: r, now: now}
}

type handler struct {
	r   Reader
	now func() time.Time
	// damage, when set, lists the damage the Auditor found: GET
	// /v1/audit carries it as "damage" (an empty list when there is
	// none), so the damage is seen where the records are read.
	damage func() []spool.DamageEvent
}

func (h *handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		return
	}
	switch p := strings.TrimSuffix(req.URL.Path, "/"); {
	case strings.HasSuffix(p, "/audit"):
		h.audit(w, req)
	case strings.HasSuffix(p, "/cost"):
		h.cost(w, req)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found: use /v1/audit or /v1/cost"})
	}
}

func (h *handler) audit(w http.ResponseWriter, req *http.Request) {
	f, err := FilterFromQuery(req.URL.Query(), h.now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	n := 0
	enc := json.NewEncoder(w)
	started := func() {
		if n == 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("{\"records\": [\n"))
		} else {
			_, _ = w.Write([]byte(","))
		}
	}
	err = h.r.Query(req.Context(), f, func(r *Record) error {
		started()
		n++
		return enc.Encode(r)
	})
	if err != nil && n == 0 {
		if req.Context().Err() != nil {
			return // the client went away
		}
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	if n == 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("{\"records\": [\n"))
	}
	tail := map[string]any{"count": n}
	if h.damage != nil {
		tail["damage"] = h.damage()
	}
	if err != nil {
		// Too late for a status code: the body says it is incomplete.
		tail["error"] = err.Error()
	}
	b, _ := json.Marshal(tail)
	_, _ = w.Write([]byte("], "))
	_, _ = w.Write(b[1:]) // continue the object: `"count": N}`
	_, _ = w.Write([]byte("\n"))
}

// costResponse is the body of GET /v1/cost.
type costResponse struct {
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	By    []string  `json:"by"`
	Rows  []CostRow `json:"rows"`
}

func (h *handler) cost(w http.ResponseWriter, req *http.Request) {
	q, err := CostQueryFromQuery(req.URL.Query(), h.now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	rows, err := h.r.Cost(req.Context(), q)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	if rows == nil {
		rows = []CostRow{}
	}
	by := q.By
	if by == nil {
		by = []string{}
	}
	writeJSON(w, http.StatusOK, costResponse{Since: q.Since, Until: q.Until, By: by, Rows: rows})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
