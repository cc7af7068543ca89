// Package pgtest runs a throwaway PostgreSQL server on loopback for tests
// (the audit store's tests, the replicas e2e test): initdb into a temp
// dir, postgres on 127.0.0.1 and a free port, trust auth, fsync on. The
// binaries come from Debian's postgresql package, which scripts/deps.sh
// installs. Running as root, the server runs as the postgres user
// (postgres refuses to run as root).
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries means initdb and postgres are not installed.
var ErrNoBinaries = errors.New("PostgreSQL binaries (initdb, postgres) not found under /usr/lib/postgresql/*/bin or in PATH; run ./scripts/deps.sh")

// Server is a running throwaway PostgreSQL server.
type Server struct {
	dir    string
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
	run    func(name string, args ...string) *exec.Cmd

	mu  sync.Mutex
	dbs int
}

// Start starts a server for one test and stops it when the test ends.
// Without the binaries the test is skipped, or fails when CI=true: under
// CI a test must never pass by not running.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := New()
	if err != nil {
		Unavailable(tb, err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Unavailable ends a test that has no server because of err: skipped
// when the binaries are not installed, failed otherwise and always under
// CI=true, where a test must never pass by not running.
func Unavailable(tb testing.TB, err error) {
	tb.Helper()
	if errors.Is(err, ErrNoBinaries) && os.Getenv("CI") != "true" {
		tb.Skipf("skipping PostgreSQL test: %v", err)
	}
	tb.Fatalf("postgres test server: %v", err)
}

// New starts a server; the caller stops it with Stop.
func New() (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root and there is no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	s := &Server{}
	if s.dir, err = os.MkdirTemp("", "sluice-pgtest-"); err != nil {
		return nil, err
	}
	if err := s.start(bin, cred); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// binDir finds the directory of initdb and postgres: the newest
// /usr/lib/postgresql/*/bin (Debian), else PATH.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
				return d, nil
			}
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("postgres"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	return "", ErrNoBinaries
}

func (s *Server) start(bin string, cred *syscall.Credential) error {
	if cred != nil {
		if err := os.Chown(s.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	logf, err := os.Create(filepath.Join(s.dir, "server.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	run := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		// Pdeathsig: a test binary killed on timeout takes the server
		// with it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGINT}
		return cmd
	}
	if err := run("initdb", "-D", filepath.Join(s.dir, "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync", "--no-instructions").Run(); err != nil {
		return fmt.Errorf("initdb: %w (log: %s)", err, s.log())
	}
	s.run = run
	// Another test process can take the port between freePort and the
	// bind: try three.
	for attempt := 1; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			return err
		}
		err := s.startServer()
		if err == nil || attempt == 3 {
			return err
		}
	}
}

// Restart stops the server (fast shutdown: sessions are cut) and starts
// it again on the same port, for tests of what clients do meanwhile.
// down runs while it is stopped.
func (s *Server) Restart(down func()) error {
	s.halt()
	if down != nil {
		down()
	}
	return s.startServer()
}

// startServer starts postgres on s.port and waits until it accepts
// connections.
func (s *Server) startServer() error {
	logf, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := s.run("postgres", "-D", filepath.Join(s.dir, "data"), "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+s.dir,
		"-c", "fsync=on", "-c", "max_connections=200", "-c", "shared_buffers=32MB")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			_ = conn.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("postgres exited at startup (log: %s)", s.log())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after 30s: %v (log: %s)", err, s.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URL is the connection URL of database db.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// NewDB creates a fresh, empty database and returns its URL.
func (s *Server) NewDB(ctx context.Context) (string, error) {
	s.mu.Lock()
	s.dbs++
	name := fmt.Sprintf("test_%d", s.dbs)
	s.mu.Unlock()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	return s.URL(name), nil
}

// Port is the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// log returns the server log (for failures).
func (s *Server) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return string(b)
}

// Stop shuts the server down (fast shutdown) and removes its files.
func (s *Server) Stop() {
	s.halt()
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
		s.dir = ""
	}
}

// halt stops the server process, keeping its files.
func (s *Server) halt() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
		s.cmd = nil
	}
}

// freePort returns a loopback TCP port nobody listens on (now), below
// the kernel's ephemeral range (as the e2e harness picks its ports), so
// that no outgoing connection takes it before postgres binds it.
func freePort() (int, error) {
	const low, high = 20000, 32700
	start := low + (os.Getpid()*7919+time.Now().Nanosecond())%(high-low)
	for i := 0; i < high-low; i++ {
		port := low + (start-low+i)%(high-low)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			l.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port in 20000-32699")
}
