package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory and unmounts
// it when the test ends (after everything registered later, such as the
// gateway, has stopped). Without the privilege to mount, the test is
// skipped, or fails under CI=true, where it must run.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		msg := fmt.Sprintf("mounting a tmpfs (needs root or CAP_SYS_ADMIN): %v", err)
		if os.Getenv("CI") == "true" || !(errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES)) {
			t.Fatal(msg)
		}
		t.Skip("skipping: " + msg)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes into a new file in dir until the filesystem is full
// (ENOSPC for a single byte) and returns the file's path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{1 << 16, 1 << 12, 1} {
		b := make([]byte, chunk)
		for {
			if _, err := f.Write(b); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filling %s: %v", dir, err)
				}
				break
			}
		}
	}
	return path
}

// A real full disk under `on_failure: deny`: once the audit spool cannot
// write, calls through the proxy are refused with 503 and
// Sluice-Reason: audit_unavailable and never reach the upstream, /readyz
// fails; when space comes back the gateway recovers, and every call the
// upstream saw has its record. (A Begin that let calls go out unrecorded
// would fail here.)
func TestFullDiskRefusesUnrecordableCalls(t *testing.T) {
	mnt := mountTmpfs(t, 8<<20)
	up := startUpstream(t)
	g := StartGateway(t, Options{
		Config: fmt.Sprintf("audit: {store: %q, on_failure: deny}\n", "sqlite://"+filepath.Join(mnt, "audit.db")),
		Files:  map[string]string{"registry/api.yaml": staticSE("api", "api.test.example", 80, "HTTP", up.Port)},
	})
	proxy, _ := url.Parse("http://" + g.Proxy)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
	call := func(i int) (int, string) {
		t.Helper()
		resp, err := client.Get(fmt.Sprintf("http://api.test.example/call/%d", i))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Sluice-Reason")
	}
	for i := 0; i < 20; i++ {
		if code, _ := call(i); code != 200 {
			t.Fatalf("call %d before the disk filled: %d", i, code)
		}
	}

	filler := fillDisk(t, mnt)
	// The spool's last page may still have room for a few entries: call
	// until the disk refuses one.
	i, refused := 20, false
	for ; i < 2000 && !refused; i++ {
		code, reason := call(i)
		switch {
		case code == http.StatusServiceUnavailable && reason == "audit_unavailable":
			refused = true
		case code != 200:
			t.Fatalf("call %d on a filling disk: %d %q", i, code, reason)
		}
	}
	if !refused {
		t.Fatal("2000 calls went out on a full disk; none was refused")
	}
	seen := len(up.IDs())
	for j := 0; j < 20; j++ {
		if code, reason := call(i + j); code != http.StatusServiceUnavailable || reason != "audit_unavailable" {
			t.Fatalf("call on a full disk: %d %q, want 503 audit_unavailable", code, reason)
		}
	}
	if n := len(up.IDs()); n != seen {
		t.Fatalf("%d calls reached the upstream while the disk was full", n-seen)
	}
	code, body := g.AdminGet("/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "audit:") || strings.Contains(string(body), "audit: ok") {
		t.Fatalf("/readyz on a full disk: %d\n%s", code, body)
	}
	t.Logf("disk full after %d calls; /readyz: %s", seen, strings.TrimSpace(string(body)))

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 20*time.Second, "/readyz once space is back", g.ready)
	if code, _ := call(i + 100); code != 200 {
		t.Fatalf("call once space is back: %d", code)
	}
	recs := map[string]bool{}
	for _, r := range records(t, g, url.Values{"limit": {"0"}}) {
		recs[r.str("id")] = true
	}
	missing := 0
	for _, id := range up.IDs() {
		if !recs[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of the %d calls the upstream saw have no record", missing, len(up.IDs()))
	}
}
