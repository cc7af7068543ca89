package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The auditor token reads what HandleRead mounts and nothing else; the
// admin token reads everything; no token reads nothing; and the handler
// sees the role.
func TestRoles(t *testing.T) {
	s := New(Tokens{Admin: "adm1n-0123456789", Auditor: "aud1t-0123456789"}, nil)
	role := func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(RoleOf(r.Context()))) }
	s.HandleRead("GET /v1/audit", http.HandlerFunc(role))
	s.Handle("POST /v1/reload", http.HandlerFunc(role))
	tests := []struct {
		method, path, token string
		status              int
		body                string
	}{
		{"GET", "/v1/audit", "", 401, ""},
		{"GET", "/v1/audit", "wrong", 401, ""},
		{"GET", "/v1/audit", "aud1t-0123456789", 200, "auditor"},
		{"GET", "/v1/audit", "adm1n-0123456789", 200, "admin"},
		{"POST", "/v1/reload", "aud1t-0123456789", 403, "forbidden"},
		{"POST", "/v1/reload", "adm1n-0123456789", 200, "admin"},
		{"GET", "/debug/pprof/", "aud1t-0123456789", 403, "forbidden"},
		{"GET", "/debug/pprof/", "", 401, ""},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.token != "" {
			r.Header.Set("Authorization", "Bearer "+tc.token)
		}
		w := httptest.NewRecorder()
		s.mux.ServeHTTP(w, r)
		if w.Code != tc.status || (tc.body != "" && !strings.Contains(w.Body.String(), tc.body)) {
			t.Errorf("%s %s (%q): %d %s", tc.method, tc.path, tc.token, w.Code, w.Body)
		}
	}
	// No admin token (loopback): everyone is anonymous, and may do anything.
	open := New(Tokens{}, nil)
	open.HandleRead("GET /v1/audit", http.HandlerFunc(role))
	w := httptest.NewRecorder()
	open.mux.ServeHTTP(w, httptest.NewRequest("GET", "/v1/audit", nil))
	if w.Code != 200 || w.Body.String() != RoleAnonymous {
		t.Errorf("open: %d %s", w.Code, w.Body)
	}
}
