// Package admin serves the admin API (docs/contract.md §9): /healthz,
// /readyz, /metrics and /v1/*. /v1/* needs the bearer token when one is
// configured; config validation refuses a non-loopback admin address
// without a token. Two roles (roles.go): the admin token may do
// everything; the auditor token only what is mounted with HandleRead.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"sync"
	"time"
)

// Check is a readiness check; nil means ready.
type Check func(ctx context.Context) error

// Server is the admin HTTP server.
type Server struct {
	mux    *http.ServeMux
	tokens Tokens
	log    *slog.Logger
	mu     sync.Mutex
	checks map[string]Check
	srv    *http.Server
	ln     net.Listener
	// refusals records refused requests (refused.go); nil: not recorded.
	refusals *refusals
}

// New returns an admin server; either token may be "" (no auditor role;
// with no admin token, nothing is asked).
func New(tokens Tokens, log *slog.Logger) *Server {
	s := &Server{mux: http.NewServeMux(), tokens: tokens, log: log, checks: map[string]Check{}}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	// Profiles for operators chasing CPU or memory; behind the token like
	// /v1/* (they reveal internals).
	s.mux.Handle("GET /debug/pprof/", s.auth(http.HandlerFunc(pprof.Index), RoleAdmin))
	s.mux.Handle("GET /debug/pprof/profile", s.auth(http.HandlerFunc(pprof.Profile), RoleAdmin))
	s.mux.Handle("GET /debug/pprof/trace", s.auth(http.HandlerFunc(pprof.Trace), RoleAdmin))
	return s
}

// AddCheck registers a readiness check under name.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	s.checks[name] = c
	s.mu.Unlock()
}

// Handle mounts h at pattern ("GET /metrics", "/v1/policy"); patterns
// under /v1/ require the admin token.
func (s *Server) Handle(pattern string, h http.Handler) {
	path := pattern
	if _, p, ok := strings.Cut(pattern, " "); ok {
		path = p
	}
	if strings.HasPrefix(path, "/v1/") {
		h = s.auth(h, RoleAdmin)
	}
	s.mux.Handle(pattern, h)
}

// HandleRead mounts h at pattern for readers: the admin token or the
// auditor token (records, cost, registry).
func (s *Server) HandleRead(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.auth(h, RoleAdmin, RoleAuditor))
}

// HandlePublic mounts h at pattern with no token asked: for what holds
// no data (the console's static files).
func (s *Server) HandlePublic(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
}

// HandleJSON mounts a GET endpoint that serves fn's value as JSON, for
// the admin token only.
func (s *Server) HandleJSON(path string, fn func(r *http.Request) (any, error)) {
	s.Handle("GET "+path, jsonHandler(fn))
}

// HandleReadJSON is HandleJSON for readers (HandleRead).
func (s *Server) HandleReadJSON(path string, fn func(r *http.Request) (any, error)) {
	s.HandleRead("GET "+path, jsonHandler(fn))
}

func jsonHandler(fn func(r *http.Request) (any, error)) http.Handler {
	return (http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		if err != nil {
			WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		WriteJSON(w, http.StatusOK, v)
	}))
}

// WriteJSON writes v as indented JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	s.mu.Lock()
	names := make([]string, 0, len(s.checks))
	for n := range s.checks {
		names = append(names, n)
	}
	checks := s.checks
	s.mu.Unlock()
	sort.Strings(names)
	var b strings.Builder
	ok := true
	for _, n := range names {
		if err := checks[n](ctx); err != nil {
			ok = false
			fmt.Fprintf(&b, "%s: %v\n", n, err)
		} else {
			fmt.Fprintf(&b, "%s: ok\n", n)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write([]byte(b.String()))
}

// Listen binds addr.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("admin: listen %s: %w", addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	return nil
}

// Serve serves until Shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin: %w", err)
	}
	return nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops the server.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if s.refusals != nil {
		// The refusals counted and not yet recorded.
		s.refusals.flush(s.refusals.now(), true)
	}
	return err
}
