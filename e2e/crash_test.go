package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// crashUnderLoad sends calls through a gateway until its upstream has
// seen over 500 of them, kills the gateway with SIGKILL mid-load, and
// returns the gateway (stopped) and the request ids the upstream saw.
func crashUnderLoad(t *testing.T) (*Gateway, []string) {
	t.Helper()
	up := startUpstream(t)
	g := StartGateway(t, Options{Files: map[string]string{"registry/api.yaml": staticSE("api", "api.test.example", 80, "HTTP", up.Port)}})
	proxy, _ := url.Parse("http://" + g.Proxy)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxy), MaxIdleConnsPerHost: 16}}
	var stop atomic.Bool
	var sent atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				resp, err := client.Get("http://api.test.example/pay")
				if err != nil {
					continue
				}
				resp.Body.Close()
				sent.Add(1)
			}
		}()
	}
	Eventually(t, 20*time.Second, "load to reach the upstream", func() bool { return len(up.IDs()) > 500 })
	g.Kill()
	stop.Store(true)
	wg.Wait()
	seen := up.IDs()
	t.Logf("upstream saw %d request ids before kill -9 (%d answered to the client)", len(seen), sent.Load())
	return g, seen
}

// checkEveryIDRecorded fails unless every id the upstream saw has a
// record and no record is left open (those whose outcome never arrived
// are closed as gateway_restart).
func checkEveryIDRecorded(t *testing.T, seen []string, recs []record) {
	t.Helper()
	all := map[string]record{}
	for _, r := range recs {
		all[r.str("id")] = r
	}
	missing, restarted := 0, 0
	for _, id := range seen {
		r, ok := all[id]
		if !ok {
			missing++
			if missing <= 5 {
				t.Errorf("request %s reached the upstream but has no record", id)
			}
			continue
		}
		if r.str("error") == "gateway_restart" {
			restarted++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d upstream requests have no record", missing, len(seen))
	}
	open := 0
	for _, r := range all {
		if r.str("time_end") == "" && r.str("error") != "gateway_restart" {
			open++
		}
	}
	if open > 0 {
		t.Errorf("%d records left open", open)
	}
	t.Logf("all %d ids recorded; %d closed as gateway_restart", len(seen), restarted)
}

// kill -9 mid-load: every request id the upstream received has a record
// after the restart (the decision part is committed before the dial), and
// records whose outcome never arrived are closed as gateway_restart.
func TestCrashKeepsEveryRecord(t *testing.T) {
	g, seen := crashUnderLoad(t)
	g.Restart()
	checkEveryIDRecorded(t, seen, records(t, g, url.Values{"host": {"api.test.example"}, "limit": {"1000000"}}))
}

// kill -9 mid-load, and the gateway never comes back (a replica scaled
// away): `sluice audit replay` writes its spool into the store and closes
// its open calls, and `sluice audit query` then finds every id.
func TestCrashThenReplay(t *testing.T) {
	g, seen := crashUnderLoad(t)
	out, code := g.Run("audit", "replay", "-c", g.Config)
	if code != 0 || !strings.Contains(out, "spooled entries written into the store") {
		t.Fatalf("audit replay: exit %d\n%s", code, out)
	}
	t.Logf("audit replay: %s", strings.TrimSpace(out))
	recs, out := queryRecords(t, g, "-c", g.Config, "--host", "api.test.example")
	if strings.Contains(out, "warning:") {
		t.Errorf("audit query still warns about spooled records after the replay:\n%s", out)
	}
	checkEveryIDRecorded(t, seen, recs)
	// A second replay finds nothing left to do.
	if out, code := g.Run("audit", "replay", "-c", g.Config); code != 0 || !strings.Contains(out, " 0 spooled entries") {
		t.Errorf("second replay: exit %d\n%s", code, out)
	}
}
