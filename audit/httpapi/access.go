package httpapi

import (
	"net/http"
	"net/netip"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/admin"
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

// RefusedRecord is the record of a request the admin API refused (401,
// 403), or of several coalesced (admin.Refusal; docs/contract.md §8): an
// audit_read record with decision deny, reason admin_unauthorized or
// admin_forbidden, the status sent, who (source_workload and
// source_identity: the refused token's role, or "none" without a token,
// "invalid" with a wrong one), the address, and the path asked for; count
// is how many refusals it stands for.
func RefusedRecord(r admin.Refusal) *audit.Record {
	reason := vocab.AdminUnauthorized
	idSrc := vocab.IdentityNone
	if r.Status == http.StatusForbidden {
		reason, idSrc = vocab.AdminForbidden, vocab.IdentityAdminToken
	}
	return &audit.Record{
		TimeStart:      r.Time,
		TimeEnd:        r.Time,
		Event:          vocab.EventAuditRead,
		SourceIdentity: r.Who,
		IdentitySource: idSrc,
		SourceIP:       r.IP,
		SourceWorkload: r.Who,
		Listener:       vocab.ListenerAdmin,
		Kind:           vocab.KindRead,
		Method:         r.Method,
		Path:           r.Path,
		Decision:       vocab.DecisionDeny,
		Enforced:       true,
		Reason:         string(reason),
		Status:         r.Status,
		Count:          r.Count,
	}
}
