package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// binPath is the sluice binary under test, set by TestMain.
var binPath string

func TestMain(m *testing.M) {
	binPath = os.Getenv("SLUICE_BIN")
	var tmp string
	if binPath == "" {
		var err error
		tmp, err = os.MkdirTemp("", "sluice-e2e-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		binPath = filepath.Join(tmp, "sluice")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/sluice")
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building sluice:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if tmp != "" {
		os.RemoveAll(tmp)
	}
	os.Exit(code)
}

// Options describe a gateway to start.
type Options struct {
	// Config is sluice.yaml text without the listeners (the harness picks
	// free loopback ports). Missing registry/policy/audit sections default
	// to <dir>/registry, no policy, and <dir>/audit.db.
	Config string
	// Files are written under the gateway's directory before it starts
	// (e.g. "registry/se.yaml").
	Files map[string]string
	// Listeners overrides listener addresses ("" turns one off).
	Listeners map[string]string
	// Env is added to the process environment.
	Env []string
	// NoWait skips waiting for /readyz (for tests of failing starts).
	NoWait bool

	bindRetries int
}

// Gateway is a running sluice process.
type Gateway struct {
	t       testing.TB
	Dir     string
	Config  string // path of sluice.yaml
	Proxy   string // host:port of each listener ("" when off)
	HTTP    string
	TLS     string
	DNS     string
	Admin   string
	cmd     *exec.Cmd
	out     *syncBuffer
	exited  chan struct{}
	env     []string
	stopped bool
}

// StartGateway writes the config and files into a temp dir, starts
// `sluice serve`, waits until /readyz answers 200, and stops it when the
// test ends (dumping its log if the test failed).
func StartGateway(t testing.TB, o Options) *Gateway {
	t.Helper()
	dir := t.TempDir()
	for rel, content := range o.Files {
		WriteFile(t, filepath.Join(dir, rel), content)
	}
	if err := os.MkdirAll(filepath.Join(dir, "registry"), 0o755); err != nil {
		t.Fatal(err)
	}
	g := &Gateway{t: t, Dir: dir, Config: filepath.Join(dir, "sluice.yaml"), env: o.Env}
	cfg := map[string]any{}
	if o.Config != "" {
		if err := yaml.Unmarshal([]byte(o.Config), &cfg); err != nil {
			t.Fatalf("test config: %v", err)
		}
	}
	listeners := map[string]any{}
	for _, name := range []string{"proxy", "http", "tls", "dns", "admin"} {
		addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		if v, ok := o.Listeners[name]; ok {
			addr = v
		}
		listeners[name] = addr
		switch name {
		case "proxy":
			g.Proxy = addr
		case "http":
			g.HTTP = addr
		case "tls":
			g.TLS = addr
		case "dns":
			g.DNS = addr
		case "admin":
			g.Admin = addr
		}
	}
	cfg["listeners"] = listeners
	setDefault(cfg, "registry", map[string]any{"paths": []string{filepath.Join(dir, "registry")}})
	setDefault(cfg, "policy", map[string]any{"paths": []string{}})
	setDefault(cfg, "audit", map[string]any{"store": "sqlite://" + filepath.Join(dir, "audit.db")})
	if a, ok := cfg["audit"].(map[string]any); ok {
		if _, ok := a["store"]; !ok {
			a["store"] = "sqlite://" + filepath.Join(dir, "audit.db")
		}
	}
	setDefault(cfg, "limits", map[string]any{"drain_timeout": "5s"})
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	WriteFile(t, g.Config, string(b))
	g.start()
	t.Cleanup(func() {
		g.Stop()
		if t.Failed() {
			t.Logf("sluice log (%s):\n%s", g.Dir, g.Logs())
		}
	})
	if !o.NoWait && !waitUntil(g.exited, readyTimeout, g.ready) {
		// Another process may have bound one of our ports between
		// FreePort and sluice's bind; that is the harness's race, not
		// the gateway's failure, so pick new ports and try again.
		if strings.Contains(g.Logs(), "address already in use") && o.bindRetries < 3 {
			g.Stop()
			o.bindRetries++
			t.Logf("port taken during start, retrying with new ports:\n%s", g.Logs())
			return StartGateway(t, o)
		}
		failStart(t, "sluice", g.exited, readyTimeout, g.Logs())
	}
	return g
}

func setDefault(m map[string]any, key string, v any) {
	if _, ok := m[key]; !ok {
		m[key] = v
	}
}

func (g *Gateway) start() {
	g.t.Helper()
	g.out = &syncBuffer{}
	g.cmd = exec.Command(binPath, "serve", "-c", g.Config)
	g.cmd.Dir = g.Dir
	g.cmd.Env = append(append(os.Environ(), "SLUICE_GATEWAY_ID=e2e-gw"), g.env...)
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	if err := g.cmd.Start(); err != nil {
		g.t.Fatalf("start sluice: %v", err)
	}
	g.exited = make(chan struct{})
	g.stopped = false
	go func() { _ = g.cmd.Wait(); close(g.exited) }()
}

// readyTimeout bounds how long a start may take before /readyz answers.
const readyTimeout = 20 * time.Second

// ready reports whether /readyz answers 200.
func (g *Gateway) ready() bool {
	code, _ := g.AdminGet("/readyz")
	return code == http.StatusOK
}

// WaitReady polls /readyz until 200, failing the test after 20 s or if
// the process exits.
func (g *Gateway) WaitReady() {
	g.t.Helper()
	if !waitUntil(g.exited, readyTimeout, g.ready) {
		failStart(g.t, "sluice", g.exited, readyTimeout, g.Logs())
	}
}

// waitUntil polls ready every 50 ms and reports true once it holds, or
// false when the process exits first or d passes.
func waitUntil(exited <-chan struct{}, d time.Duration, ready func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if ready() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// failStart fails the test for a process that did not get ready within d.
func failStart(t testing.TB, name string, exited <-chan struct{}, d time.Duration, logs string) {
	t.Helper()
	select {
	case <-exited:
		t.Fatalf("%s exited during start:\n%s", name, logs)
	default:
	}
	t.Fatalf("%s not ready after %s:\n%s", name, d, logs)
}

// terminate sends SIGTERM to a started process and waits for it to exit
// (KILL after 15 s).
func terminate(cmd *exec.Cmd, exited <-chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Exited reports whether the process has ended, waiting up to d.
func (g *Gateway) Exited(d time.Duration) bool {
	select {
	case <-g.exited:
		return true
	case <-time.After(d):
		return false
	}
}

// ExitCode is the process exit code once it has exited.
func (g *Gateway) ExitCode() int { return g.cmd.ProcessState.ExitCode() }

// Signal sends sig to the process.
func (g *Gateway) Signal(sig os.Signal) {
	if g.cmd.Process != nil {
		_ = g.cmd.Process.Signal(sig)
	}
}

// Reload sends SIGHUP.
func (g *Gateway) Reload() { g.Signal(syscall.SIGHUP) }

// Stop sends SIGTERM and waits (KILL after 15 s).
func (g *Gateway) Stop() {
	if g.stopped || g.cmd == nil || g.cmd.Process == nil {
		return
	}
	g.stopped = true
	terminate(g.cmd, g.exited)
}

// Kill sends SIGKILL and waits: a crash.
func (g *Gateway) Kill() {
	if g.stopped {
		return
	}
	g.stopped = true
	_ = g.cmd.Process.Kill()
	<-g.exited
}

// Restart starts the process again with the same config and waits until
// it is ready.
func (g *Gateway) Restart() {
	g.t.Helper()
	g.Stop()
	g.start()
	g.WaitReady()
}

// Logs returns everything the process wrote.
func (g *Gateway) Logs() string { return g.out.String() }

// WriteRegistry replaces a registry file (relative to <dir>/registry).
func (g *Gateway) WriteRegistry(name, content string) {
	WriteFile(g.t, filepath.Join(g.Dir, "registry", name), content)
}

// AdminGet GETs path on the admin listener.
func (g *Gateway) AdminGet(path string) (int, []byte) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := c.Get("http://" + g.Admin + path)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// Run runs the sluice binary with args (e.g. "audit", "query") and returns
// its combined output and exit code.
func (g *Gateway) Run(args ...string) (string, int) {
	return RunSluice(g.t, g.Dir, args...)
}

// RunSluice runs the binary in dir.
func RunSluice(t testing.TB, dir string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			t.Fatalf("sluice %v: %v", args, err)
		}
	}
	return string(out), code
}

// noProxyEnv clears the proxy variables for a helper process, which talks
// to loopback addresses directly.
var noProxyEnv = []string{"http_proxy=", "https_proxy=", "HTTP_PROXY=", "HTTPS_PROXY=", "no_proxy=", "NO_PROXY=", "ALL_PROXY=", "all_proxy="}

// RunCmd runs an external client (curl, dig, …) with a timeout and returns
// stdout, stderr and the exit code.
func RunCmd(t testing.TB, name string, args ...string) (string, string, int) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (scripts/deps.sh installs it)", name)
		}
		t.Skipf("%s is not installed (run scripts/deps.sh)", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), noProxyEnv...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return so.String(), se.String(), code
}

// portPicker hands out loopback ports below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range, 32768-60999 by default). Ports from
// ":0" are ephemeral, so between closing the probe socket and sluice
// binding it, any outgoing connection of any process could take it as
// its source port; CI saw exactly that ("bind: address already in use").
// Below the range only explicit binds compete.
var portPicker struct {
	sync.Mutex
	next int
}

const (
	portLow  = 20000
	portHigh = 32700
)

// FreePort returns a loopback port free for both TCP and UDP, outside the
// ephemeral range.
func FreePort(t testing.TB) int {
	t.Helper()
	portPicker.Lock()
	defer portPicker.Unlock()
	if portPicker.next == 0 {
		// Spread concurrent test processes over the range.
		portPicker.next = portLow + (os.Getpid()*7919+time.Now().Nanosecond())%(portHigh-portLow)
	}
	for i := 0; i < portHigh-portLow; i++ {
		port := portPicker.next
		portPicker.next++
		if portPicker.next >= portHigh {
			portPicker.next = portLow
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// WriteFile writes content to path, creating directories.
func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Eventually polls cond every 50 ms until it returns true or d passes.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

// syncBuffer is a bytes.Buffer safe for the process's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// contains reports whether s contains every one of subs.
func contains(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
