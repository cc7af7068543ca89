package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/vocab"
)

// Every read of records is told to OnRead with its filter before it is
// answered, and refused with 503 when it cannot be recorded.
func TestOnRead(t *testing.T) {
	r, _ := fixture(t)
	var seen []string
	fail := false
	srv := httptest.NewServer(New(r, Options{Now: func() time.Time { return now }, OnRead: func(req *http.Request) error {
		if fail {
			return errors.New("disk full")
		}
		seen = append(seen, req.URL.RequestURI())
		return nil
	}}))
	defer srv.Close()
	for _, p := range []string{"/v1/audit?decision=deny&since=24h", "/v1/cost?by=source"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	if strings.Join(seen, " ") != "/v1/audit?decision=deny&since=24h /v1/cost?by=source" {
		t.Errorf("reads told: %v", seen)
	}
	fail = true
	resp, err := http.Get(srv.URL + "/v1/audit")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("unrecorded read answered %d", resp.StatusCode)
	}
}

// The audit_read record says who, when and which filter.
func TestReadRecord(t *testing.T) {
	req := httptest.NewRequest("GET", "/v1/audit?host=api.stripe.com&decision=deny", nil)
	req.RemoteAddr = "[::ffff:127.0.0.1]:5555"
	rec := ReadRecord(req, vocab.RoleAuditor, now)
	if rec.Event != vocab.EventAuditRead || rec.SourceWorkload != "auditor" || rec.IdentitySource != vocab.IdentityAdminToken ||
		rec.SourceIP != "127.0.0.1" || rec.Path != "/v1/audit?host=api.stripe.com&decision=deny" || !rec.TimeStart.Equal(now) {
		t.Errorf("record: %+v", rec)
	}
	if rec := ReadRecord(req, "", now); rec.SourceWorkload != vocab.RoleAnonymous || rec.IdentitySource != vocab.IdentityNone {
		t.Errorf("anonymous: %+v", rec)
	}
}

// A refused request's record: denied, the reason of its status, who,
// where from, which path, how many.
func TestRefusedRecord(t *testing.T) {
	rec := RefusedRecord(admin.Refusal{Time: now, IP: "192.0.2.7", Who: admin.RefusedInvalid, Status: 401,
		Method: "GET", Path: "/v1/audit?since=24h", Count: 3})
	if rec.Event != vocab.EventAuditRead || rec.Decision != vocab.DecisionDeny || rec.Reason != string(vocab.AdminUnauthorized) ||
		rec.Status != 401 || rec.SourceWorkload != "invalid" || rec.IdentitySource != vocab.IdentityNone ||
		rec.SourceIP != "192.0.2.7" || rec.Path != "/v1/audit?since=24h" || rec.Count != 3 || !rec.TimeStart.Equal(now) ||
		rec.Listener != vocab.ListenerAdmin || !rec.Enforced {
		t.Errorf("401: %+v", rec)
	}
	rec = RefusedRecord(admin.Refusal{Time: now, IP: "192.0.2.7", Who: vocab.RoleAuditor, Status: 403, Method: "POST", Path: "/v1/reload", Count: 1})
	if rec.Reason != string(vocab.AdminForbidden) || rec.Status != 403 || rec.SourceWorkload != "auditor" ||
		rec.IdentitySource != vocab.IdentityAdminToken || rec.Method != "POST" {
		t.Errorf("403: %+v", rec)
	}
	if rec.WentOut() {
		t.Error("a refused request costs")
	}
}

// A proof is a read of the records: told to OnRead first, refused with
// 503 when it cannot be recorded. A checkpoint (no record in it) is not.
func TestLogOnRead(t *testing.T) {
	var seen []string
	fail := false
	h := NewLog(nil, LogOptions{OnRead: func(req *http.Request) error {
		if fail {
			return errors.New("disk full")
		}
		seen = append(seen, req.URL.RequestURI())
		return nil
	}})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/audit/proof?id=X", nil))
	if len(seen) != 1 || seen[0] != "/v1/audit/proof?id=X" {
		t.Errorf("reads told: %v (%d)", seen, w.Code)
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1/audit/checkpoint", nil))
	if len(seen) != 1 {
		t.Errorf("a checkpoint read was recorded: %v", seen)
	}
	fail = true
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/audit/proof?from=1", nil))
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("unrecorded proof read answered %d", w.Code)
	}
}
