package httpapi

import (
	"net/http"
	"net/netip"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/vocab"
)

// recordRead tells Options.OnRead of req; when that fails it answers 503
// and returns false.
func (h *handler) recordRead(w http.ResponseWriter, req *http.Request) bool {
	if h.onRead == nil {
		return true
	}
	if err := h.onRead(req); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "audit_unavailable: this read of the records could not be recorded: " + err.Error()})
		return false
	}
	return true
}

// ReadRecord is the audit_read record of req, a read of the records by a
// caller whose token granted role (docs/contract.md §8): who (role in
// source_workload, the bearer token as identity source, the address in
// source_ip), when (time_start), and which filter (path: the path and
// query string asked for, e.g. /v1/audit?decision=deny&since=24h).
func ReadRecord(req *http.Request, role string, now time.Time) *audit.Record {
	ip := req.RemoteAddr
	if ap, err := netip.ParseAddrPort(req.RemoteAddr); err == nil {
		ip = ap.Addr().Unmap().String()
	}
	if role == "" {
		role = vocab.RoleAnonymous
	}
	idSrc := vocab.IdentityAdminToken
	if role == vocab.RoleAnonymous {
		idSrc = vocab.IdentityNone
	}
	return &audit.Record{
		TimeStart:      now,
		TimeEnd:        now,
		Event:          vocab.EventAuditRead,
		SourceIdentity: role,
		IdentitySource: idSrc,
		SourceIP:       ip,
		SourceWorkload: role,
		Listener:       vocab.ListenerAdmin,
		Kind:           vocab.KindRead,
		Method:         req.Method,
		Path:           req.URL.RequestURI(),
		Decision:       vocab.DecisionAllow,
		Enforced:       true,
		Status:         http.StatusOK,
	}
}
