package postgres

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/pgtest"
)

// TestMain stops the package's PostgreSQL test server, if a test started
// one.
func TestMain(m *testing.M) {
	code := m.Run()
	pgShared.stop()
	os.Exit(code)
}

// pgServer is the package's throwaway PostgreSQL server, started by the
// first test that asks for one (pgTestURL) and stopped by TestMain; each
// test gets its own database on it (one server start, ~1 s, for all).
type pgServer struct {
	mu      sync.Mutex
	started bool
	srv     *pgtest.Server
	err     error
}

// pgShared is the package's test server (test code only).
var pgShared = &pgServer{}

func (s *pgServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Stop()
		s.srv = nil
	}
}

// pgTestURL returns the URL of a fresh, empty database on the test
// server. Without PostgreSQL binaries the test is skipped, or fails when
// CI=true: under CI these tests must never pass by not running.
func pgTestURL(t testing.TB) string {
	t.Helper()
	s := pgShared
	s.mu.Lock()
	if !s.started {
		s.started = true
		start := time.Now()
		s.srv, s.err = pgtest.New()
		if s.err == nil {
			t.Logf("postgres test server started in %v (port %d)", time.Since(start).Round(time.Millisecond), s.srv.Port())
		}
	}
	srv, err := s.srv, s.err
	s.mu.Unlock()
	if err != nil {
		pgtest.Unavailable(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url, err := srv.NewDB(ctx)
	if err != nil {
		t.Fatalf("postgres test server: %v", err)
	}
	return url
}
