package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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
