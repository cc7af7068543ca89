package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A damaged or shortened SQLite store is never served as healthy: the
// gateway refuses to start, says which file and what to do, and writes
// nothing into it; a store behind the gateway's own high-water mark (an
// older copy, or a file truncated to nothing) is refused the same way,
// never taken for a fresh start.
func TestDamagedStoreIsRefusedAtStart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
		want   string // in the log
		// untouched: the refused file must stay byte for byte as it was
		// (an empty file may get its schema; it holds no records to lose)
		untouched bool
	}{
		{"a 4 KiB page of garbage", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			garbage := []byte(strings.Repeat("\xde\xad\xbe\xef", 1024))
			if _, err := f.WriteAt(garbage, 3*4096); err != nil {
				t.Fatal(err)
			}
		}, "damaged", true},
		{"truncated to 0 bytes", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, "behind", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := startUpstream(t)
			g := StartGateway(t, Options{Files: map[string]string{"registry/r.yaml": staticSE("ok", "ok.test.example", up.Port, "HTTP", up.Port)}})
			proxy, _ := url.Parse("http://" + g.Proxy)
			c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}, Timeout: 10 * time.Second}
			for i := range 300 {
				resp, err := c.Get(fmt.Sprintf("http://ok.test.example:%d/%d?%s", up.Port, i, strings.Repeat("x", 200)))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			g.Stop()
			db := filepath.Join(g.Dir, "audit.db")
			if st, err := os.Stat(db); err != nil || st.Size() < 5*4096 {
				t.Fatalf("the store is too small to damage a page: %v %v", st, err)
			}
			before, _ := os.ReadFile(db)
			tc.damage(t, db)
			damaged, _ := os.ReadFile(db)

			g.start()
			if !g.Exited(30 * time.Second) {
				t.Fatalf("the gateway serves a store that is %s:\n%s", tc.name, g.Logs())
			}
			g.stopped = true
			if g.ExitCode() == 0 || !strings.Contains(g.Logs(), db) || !strings.Contains(g.Logs(), tc.want) {
				t.Errorf("exit %d; the log should name %s and say %q:\n%s", g.ExitCode(), db, tc.want, g.Logs())
			}
			if after, _ := os.ReadFile(db); tc.untouched && (string(after) != string(damaged) || string(after) == string(before)) {
				t.Error("the refused store was written to")
			}
		})
	}
}
