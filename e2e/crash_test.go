package e2e

import (
	"context"
	"database/sql"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite" // lockStore opens the store as another process would
)

// loadClients is how many goroutines crashUnderLoad sends calls from,
// one call at a time each.
const loadClients = 16

// hungCalls is how many calls crashUnderLoad holds open at the upstream
// when it kills the gateway: calls certainly in flight.
const hungCalls = 3

// crashRun is what crashUnderLoad leaves: the gateway (stopped), the
// request ids the upstreams saw, and those of the calls held open.
type crashRun struct {
	g    *Gateway
	seen []string
	hung []string
}

// crashOpts vary crashUnderLoad.
type crashOpts struct {
	// config is extra gateway config (e.g. the audit store).
	config string
	// busyStore holds the SQLite store's write lock from before the load
	// until after the kill: nothing is ingested, every record and outcome
	// of the run is only in the spool when the gateway dies.
	busyStore bool
	// beforeKill, when set, runs under load just before the kill.
	beforeKill func(g *Gateway)
}

// crashUnderLoad sends calls through a gateway until its upstream has
// seen over 500 of them, holds hungCalls more open at a second upstream,
// kills the gateway with SIGKILL mid-load, and returns what the upstreams
// saw.
func crashUnderLoad(t *testing.T, o crashOpts) crashRun {
	t.Helper()
	up := startUpstream(t)
	hang := startHangUpstream(t)
	g := StartGateway(t, Options{Config: o.config, Files: map[string]string{
		"registry/api.yaml":  staticSE("api", "api.test.example", 80, "HTTP", up.Port),
		"registry/hang.yaml": staticSE("hang", "hang.test.example", 80, "HTTP", hang.port),
	}})
	if o.busyStore {
		release := lockStore(t, filepath.Join(g.Dir, "audit.db"))
		defer release()
	}
	proxy, _ := url.Parse("http://" + g.Proxy)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxy), MaxIdleConnsPerHost: loadClients}}
	var stop atomic.Bool
	var sent atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < loadClients; i++ {
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
	hungClient := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
	for i := 0; i < hungCalls; i++ {
		go func() {
			if resp, err := hungClient.Get("http://hang.test.example/slow"); err == nil {
				resp.Body.Close()
			}
		}()
	}
	Eventually(t, 20*time.Second, "load to reach the upstream", func() bool { return len(up.IDs()) > 500 })
	Eventually(t, 20*time.Second, "the held calls to reach their upstream", func() bool { return len(hang.IDs()) == hungCalls })
	if o.beforeKill != nil {
		o.beforeKill(g)
	}
	g.Kill()
	stop.Store(true)
	wg.Wait()
	run := crashRun{g: g, seen: append(up.IDs(), hang.IDs()...), hung: hang.IDs()}
	t.Logf("upstream saw %d request ids before kill -9 (%d answered to the client, %d held open)", len(run.seen), sent.Load(), len(run.hung))
	return run
}

// lockStore takes the SQLite store's write lock (as another process
// writing it would) and returns the function that releases it. The
// gateway's ingester then fails and retries; its records wait in the
// spool.
func lockStore(t *testing.T, path string) func() {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("locking %s: %v", path, err)
	}
	return func() {
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
		_ = conn.Close()
		_ = db.Close()
	}
}

// hangUpstream answers nothing until the test ends: the calls it holds
// are in flight when the gateway is killed.
type hangUpstream struct {
	*upstream
	port int
}

func startHangUpstream(t *testing.T) *hangUpstream {
	h := &hangUpstream{upstream: &upstream{}}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get("Sluice-Request-Id"); id != "" {
			h.mu.Lock()
			h.ids = append(h.ids, id)
			h.mu.Unlock()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first
	h.port = srv.Listener.Addr().(*net.TCPAddr).Port
	return h
}

// checkEveryIDRecorded fails unless every id the upstreams saw has a
// record and no record is left open: those whose outcome never arrived
// are closed as gateway_restart. Which ones that is, is bounded: every
// call held open at the kill, and at most two per load client besides
// (the call it had in flight, and the one before, whose outcome, written
// after the response, may not have been committed yet). Every other
// record has its real outcome.
func checkEveryIDRecorded(t *testing.T, run crashRun, recs []record) {
	t.Helper()
	all := map[string]record{}
	for _, r := range recs {
		all[r.str("id")] = r
	}
	missing := 0
	for _, id := range run.seen {
		if _, ok := all[id]; !ok {
			missing++
			if missing <= 5 {
				t.Errorf("request %s reached the upstream but has no record", id)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d upstream requests have no record", missing, len(run.seen))
	}
	for _, id := range run.hung {
		if r := all[id]; r.str("error") != "gateway_restart" || r.num("status") != 0 {
			t.Errorf("call %s was in flight at the kill: error %q status %v, want gateway_restart and no status", id, r.str("error"), r.num("status"))
		}
	}
	restarted, open := 0, 0
	for _, r := range all {
		switch {
		case r.str("error") == "gateway_restart":
			restarted++
			if r.num("status") != 0 || r.str("time_end") == "" {
				t.Errorf("record %s closed as gateway_restart with status %v, time_end %q", r.str("id"), r.num("status"), r.str("time_end"))
			}
		case r.str("time_end") == "":
			open++
		case r.num("status") != 200:
			t.Errorf("record %s: status %v error %q, want its real outcome (200)", r.str("id"), r.num("status"), r.str("error"))
		}
	}
	if open > 0 {
		t.Errorf("%d records left open", open)
	}
	if most := hungCalls + 2*loadClients; restarted < hungCalls || restarted > most {
		t.Errorf("%d records closed as gateway_restart, want %d to %d (the %d calls held open, and at most two per load client)",
			restarted, hungCalls, most, hungCalls)
	}
	t.Logf("all %d ids recorded; %d closed as gateway_restart (%d held open)", len(run.seen), restarted, hungCalls)
}

// kill -9 mid-load: every request id the upstream received has a record
// after the restart (the decision part is committed before the dial), and
// records whose outcome never arrived are closed as gateway_restart. With
// the store busy, everything comes back from the spool.
func TestCrashKeepsEveryRecord(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    crashOpts
	}{
		{"store ingesting", crashOpts{}},
		{"store busy", crashOpts{busyStore: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := crashUnderLoad(t, tc.o)
			run.g.Restart()
			checkEveryIDRecorded(t, run, records(t, run.g, url.Values{"limit": {"1000000"}}))
		})
	}
}

// kill -9 mid-load, and the gateway never comes back (a replica scaled
// away): `sluice audit replay` writes its spool into the store and closes
// its open calls, and `sluice audit query` then finds every id.
func TestCrashThenReplay(t *testing.T) {
	run := crashUnderLoad(t, crashOpts{busyStore: true})
	g := run.g
	out, code := g.Run("audit", "replay", "-c", g.Config)
	if code != 0 || !strings.Contains(out, "spooled entries written into the store") {
		t.Fatalf("audit replay: exit %d\n%s", code, out)
	}
	t.Logf("audit replay: %s", strings.TrimSpace(out))
	recs, out := queryRecords(t, g, "-c", g.Config)
	if strings.Contains(out, "warning:") {
		t.Errorf("audit query still warns about spooled records after the replay:\n%s", out)
	}
	checkEveryIDRecorded(t, run, recs)
	// A second replay finds nothing left to do.
	if out, code := g.Run("audit", "replay", "-c", g.Config); code != 0 || !strings.Contains(out, " 0 spooled entries") {
		t.Errorf("second replay: exit %d\n%s", code, out)
	}
}
