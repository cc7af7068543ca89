package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/audit"
)

// NewLog serves the transparency log's endpoints on the admin API
// (docs/contract.md §9) from the log store ls:
//
//	GET /v1/audit/checkpoint[?gateway=G]
//	  → text/plain: the latest signed checkpoint of G's log (default
//	    opts.Gateway), a C2SP signed note; 404 when there is none yet
//	GET /v1/audit/proof?id=ID[&size=N]
//	  → audit.InclusionProof: record ID's leaf against the tree of N
//	    leaves (default: the latest checkpoint that covers it)
//	GET /v1/audit/proof?from=M[&to=N][&gateway=G]
//	  → audit.ConsistencyProof: the log of M leaves is a prefix of the
//	    log of N (default: the latest checkpoint's size)
//
// The caller mounts it at both paths and checks the bearer token.
func NewLog(ls audit.LogStore, opts LogOptions) http.Handler {
	return &logHandler{ls: ls, opts: opts}
}

// LogOptions tune NewLog.
type LogOptions struct {
	// Gateway is the gateway whose log is served by default.
	Gateway string
	// Sync, when set, waits until the records committed so far are in
	// the store (Auditor.Sync), before a proof is made.
	Sync func(ctx context.Context) error
	// OnRead, as Options.OnRead: told of every read of a proof (an
	// inclusion proof carries the record's encoding) before it is
	// answered; when it fails the read is refused with 503. A checkpoint
	// is not a read of records (a size and a root hash): recording it
	// would make each witness that polls it grow the log it checks.
	OnRead func(req *http.Request) error
}

// syncWait bounds how long a proof waits for the newest records to reach
// the store.
const syncWait = 2 * time.Second

type logHandler struct {
	ls   audit.LogStore
	opts LogOptions
}

func (h *logHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		return
	}
	if h.opts.OnRead != nil && strings.HasSuffix(strings.TrimSuffix(req.URL.Path, "/"), "/proof") {
		if err := h.opts.OnRead(req); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "audit_unavailable: this read of the records could not be recorded: " + err.Error()})
			return
		}
	}
	if h.ls == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "the audit store keeps no transparency log"})
		return
	}
	q := req.URL.Query()
	gw := q.Get("gateway")
	if gw == "" {
		gw = h.opts.Gateway
	}
	ctx := req.Context()
	path := strings.TrimSuffix(req.URL.Path, "/")
	if strings.HasSuffix(path, "/proof") && h.opts.Sync != nil {
		sctx, cancel := context.WithTimeout(ctx, syncWait)
		_ = h.opts.Sync(sctx) // past it, the proof is of what the store has
		cancel()
	}
	lr, err := h.ls.LogSnapshot(ctx)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	defer lr.Close()
	switch {
	case strings.HasSuffix(path, "/checkpoint"):
		c, err := audit.LatestCheckpoint(ctx, lr, gw)
		switch {
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		case c == nil:
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no checkpoint of the log of " + strconv.Quote(gw) +
				" yet (audit.checkpoint_key signs one every audit.checkpoint_interval)"})
		default:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(c.Note)
		}
	case strings.HasSuffix(path, "/proof"):
		h.proof(w, req, lr, gw)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found: use /v1/audit/checkpoint or /v1/audit/proof"})
	}
}

func (h *logHandler) proof(w http.ResponseWriter, req *http.Request, lr audit.LogReader, gw string) {
	q := req.URL.Query()
	num := func(name string) (int64, bool) {
		s := q.Get(name)
		if s == "" {
			return 0, true
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": name + ": not a number of leaves: " + strconv.Quote(s)})
			return 0, false
		}
		return n, true
	}
	ctx := req.Context()
	if id := q.Get("id"); id != "" {
		size, ok := num("size")
		if !ok {
			return
		}
		p, err := audit.ProveRecord(ctx, lr, id, size)
		if err != nil {
			status := http.StatusBadRequest
			if errors.Is(err, audit.ErrNotLogged) {
				status = http.StatusNotFound
			}
			writeJSON(w, status, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, p)
		return
	}
	from, ok := num("from")
	if !ok {
		return
	}
	to, ok := num("to")
	if !ok {
		return
	}
	if q.Get("from") == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "give id (an inclusion proof) or from (a consistency proof)"})
		return
	}
	p, err := audit.ProveLog(ctx, lr, gw, from, to)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, p)
}
