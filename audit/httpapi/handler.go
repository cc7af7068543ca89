// Package httpapi serves audit records and cost reports on the admin API
// (docs/contract.md §9): GET /v1/audit and GET /v1/cost, read from any
// audit.Reader. See README.md.
package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/spool"
)

// New serves the admin API's audit endpoints from r:
//
//	GET /v1/audit?since=24h&host=api.stripe.com&decision=deny&limit=100
//	  → {"records": [...], "count": N}, newest first (audit.Filter fields;
//	    limit defaults to 100, 0 means no limit; records stream as they
//	    are read); with Options.Damage, also "damage": [...]
//	GET /v1/cost?since=720h&by=source,destination,meter
//	  → {"since": …, "until": …, "by": [...], "rows": [...]}
//
// Bad parameters get 400 with {"error": "..."}. The caller mounts it at
// both paths and checks the bearer token.
func New(r audit.Reader, opts Options) http.Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &handler{r: r, now: opts.Now, damage: opts.Damage, onRead: opts.OnRead}
}

// Options tune the handler.
type Options struct {
	// Now is the clock for relative times (default time.Now).
	Now func() time.Time
	// Damage, when set, lists the damage the Auditor found
	// (Auditor.Damage): GET /v1/audit carries it as "damage" (an empty
	// list when there is none), so the damage is seen where the records
	// are read.
	Damage func() []spool.DamageEvent
	// OnRead, when set, is told of every read of records (GET /v1/audit,
	// /v1/cost) before it is answered, with the filter asked for; the
	// gateway records it (access.go). When it fails the read is refused
	// with 503: a read that cannot be recorded does not happen.
	OnRead func(req *http.Request) error
}

type handler struct {
	r      audit.Reader
	now    func() time.Time
	damage func() []spool.DamageEvent
	onRead func(req *http.Request) error
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
	f, err := audit.FilterFromQuery(req.URL.Query(), h.now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if !h.recordRead(w, req) {
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
	err = h.r.Query(req.Context(), f, func(r *audit.Record) error {
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
	Since time.Time       `json:"since,omitzero"`
	Until time.Time       `json:"until,omitzero"`
	By    []string        `json:"by"`
	Rows  []audit.CostRow `json:"rows"`
}

func (h *handler) cost(w http.ResponseWriter, req *http.Request) {
	q, err := audit.CostQueryFromQuery(req.URL.Query(), h.now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if !h.recordRead(w, req) {
		return
	}
	rows, err := h.r.Cost(req.Context(), q)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	if rows == nil {
		rows = []audit.CostRow{}
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
