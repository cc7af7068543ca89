package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/audit/httpapi"
	"github.com/sluicehq/sluice/console"
	"github.com/sluicehq/sluice/internal/admin"
)

// recordRead records a read of the records (an audit_read record, durable
// before the read is answered): who, when, and which filter.
func (a *app) recordRead(req *http.Request) error {
	rec := httpapi.ReadRecord(req, admin.RoleOf(req.Context()), time.Now())
	ctx, cancel := context.WithTimeout(req.Context(), 5*time.Second)
	defer cancel()
	if err := a.auditor.Complete(ctx, rec); err != nil {
		return fmt.Errorf("recording the read: %w", err)
	}
	return nil
}

// recordRefused records a request the admin API refused (401, 403),
// coalesced per address by internal/admin (at most one record per
// address a window, and a bounded number per window).
func (a *app) recordRefused(r admin.Refusal) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.auditor.Complete(ctx, httpapi.RefusedRecord(r)); err != nil {
		a.log.Warn("audit: a refused request to the admin API could not be recorded", "ip", r.IP, "path", r.Path,
			"status", r.Status, "count", r.Count, "err", err)
	}
}

// reloadHandler is POST /v1/reload (admin token only): what SIGHUP does,
// reload the registry and the policy, answering with the outcome.
func (a *app) reloadHandler(w http.ResponseWriter, r *http.Request) {
	a.log.Info("POST /v1/reload: reloading registry and policy", "role", admin.RoleOf(r.Context()))
	res := map[string]string{"registry": "ok", "policy": "ok"}
	status := http.StatusOK
	if err := a.reloadRegistry(r.Context()); err != nil {
		res["registry"], status = err.Error(), http.StatusUnprocessableEntity
	}
	if err := a.policy.Reload(r.Context()); err != nil {
		res["policy"], status = err.Error(), http.StatusUnprocessableEntity
	}
	admin.WriteJSON(w, status, res)
}

// mountConsole serves the web console at /ui/ (its static files need no
// token; the records it shows come from the API behind the tokens) and
// the reads it uses beyond /v1/audit and /v1/cost: the live tail, the
// export, the cost series and whoami. Each read of records is recorded.
func (a *app) mountConsole() {
	opts := httpapi.Options{OnRead: a.recordRead}
	r := a.auditor.Reader()
	a.admin.HandleRead("GET /v1/audit/tail", httpapi.NewTail(r, opts))
	a.admin.HandleRead("GET /v1/audit/export", httpapi.NewExport(r, opts))
	a.admin.HandleRead("GET /v1/cost/series", httpapi.NewSeries(r, opts))
	a.admin.HandleReadJSON("/v1/whoami", func(r *http.Request) (any, error) {
		return map[string]string{"role": admin.RoleOf(r.Context())}, nil
	})
	a.admin.HandlePublic("GET /ui/", console.Handler())
	a.admin.HandlePublic("GET /ui", console.Handler())
}
