package admin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAuthAndReadiness(t *testing.T) {
	s := New(Tokens{Admin: "s3cret"}, nil)
	s.HandleJSON("/v1/thing", func(*http.Request) (any, error) { return map[string]int{"n": 1}, nil })
	s.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("m 1\n")) }))
	ready := error(nil)
	s.AddCheck("store", func(context.Context) error { return ready })
	tests := []struct {
		path, auth string
		status     int
		body       string
	}{
		{"/healthz", "", 200, "ok"},
		{"/metrics", "", 200, "m 1"},           // metrics need no token
		{"/v1/thing", "", 401, "unauthorized"}, // /v1 does
		{"/v1/thing", "Bearer wrong", 401, ""},
		{"/v1/thing", "Bearer s3cret", 200, `"n": 1`},
		{"/readyz", "", 200, "store: ok"},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", tc.path, nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		w := httptest.NewRecorder()
		s.mux.ServeHTTP(w, r)
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.body) {
			t.Errorf("%s (%q): %d %s", tc.path, tc.auth, w.Code, w.Body)
		}
	}
	ready = errors.New("disk full")
	w := httptest.NewRecorder()
	s.mux.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	if w.Code != 503 || !strings.Contains(w.Body.String(), "store: disk full") {
		t.Errorf("unready: %d %s", w.Code, w.Body)
	}
}
