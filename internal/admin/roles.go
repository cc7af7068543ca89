package admin

import (
	"context"
	"crypto/subtle"
	"net/http"
	"slices"

	"github.com/sluicehq/sluice/internal/vocab"
)

// The roles a bearer token grants (vocab.Role*).
const (
	RoleAdmin     = vocab.RoleAdmin
	RoleAuditor   = vocab.RoleAuditor
	RoleAnonymous = vocab.RoleAnonymous
)

// Tokens are the admin API's bearer tokens (admin.token,
// admin.auditor_token). With no Admin token nothing is asked (loopback
// only, config validation sees to it) and every caller is anonymous.
type Tokens struct {
	Admin   string
	Auditor string
}

type roleKey struct{}

// RoleOf is the role the request's token granted (RoleAnonymous when no
// token is configured); "" outside a handler mounted by Server.
func RoleOf(ctx context.Context) string {
	r, _ := ctx.Value(roleKey{}).(string)
	return r
}

// WithRole returns ctx carrying role, as the Server's handlers see it
// (for tests of handlers mounted elsewhere).
func WithRole(ctx context.Context, role string) context.Context {
	return context.WithValue(ctx, roleKey{}, role)
}

// role is the role r's Authorization grants, "" for none.
func (s *Server) role(r *http.Request) string {
	if s.tokens.Admin == "" {
		return RoleAnonymous
	}
	got := []byte(r.Header.Get("Authorization"))
	if subtle.ConstantTimeCompare(got, []byte("Bearer "+s.tokens.Admin)) == 1 {
		return RoleAdmin
	}
	if s.tokens.Auditor != "" && subtle.ConstantTimeCompare(got, []byte("Bearer "+s.tokens.Auditor)) == 1 {
		return RoleAuditor
	}
	return ""
}

// auth serves h to the callers whose token grants one of roles (every
// caller when no token is configured): 401 without a valid token, 403
// for a valid token of another role. Both are recorded (refused.go).
func (s *Server) auth(h http.Handler, roles ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role := s.role(r)
		switch {
		case role == "":
			who := RefusedInvalid
			if r.Header.Get("Authorization") == "" {
				who = RefusedNone
			}
			s.refused(r, http.StatusUnauthorized, who)
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
			WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
			return
		case role != RoleAnonymous && !slices.Contains(roles, role):
			s.refused(r, http.StatusForbidden, role)
			WriteJSON(w, http.StatusForbidden, map[string]string{"error": "forbidden: the " + role + " token may not use " + r.URL.Path})
			return
		}
		h.ServeHTTP(w, r.WithContext(WithRole(r.Context(), role)))
	})
}
