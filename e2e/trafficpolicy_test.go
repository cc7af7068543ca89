package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// DestinationRule traffic policies end to end: three upstream endpoints
// of one ServiceEntry, on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (one port),
// and a Go client with keep-alive through the proxy listener.

// member is one endpoint of the trio: it answers with its name, after
// delay, with status (200 unless set).
type member struct {
	name   string
	delay  atomic.Int64 // nanoseconds
	status atomic.Int64
	hits   atomic.Int64
}

func (m *member) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.hits.Add(1)
	if d := time.Duration(m.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	if s := m.status.Load(); s != 0 {
		w.WriteHeader(int(s))
	}
	fmt.Fprint(w, m.name)
}

// listenTrio listens on 127.0.0.1, .2 and .3 on one free port, for the
// three endpoints of one ServiceEntry.
func listenTrio(t *testing.T) ([3]net.Listener, int) {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		var lns []net.Listener
		port := FreePort(t)
		for i := range 3 {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:%d", i+1, port))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) == 3 {
			return [3]net.Listener(lns), port
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	t.Fatal("no port free on 127.0.0.1-3")
	return [3]net.Listener{}, 0
}

// startTrio starts the three endpoints on one port and returns them and
// the port.
func startTrio(t *testing.T) ([3]*member, int) {
	t.Helper()
	var ms [3]*member
	lns, port := listenTrio(t)
	for i, ln := range lns {
		ms[i] = &member{name: fmt.Sprintf("ep%d", i+1)}
		srv := &http.Server{Handler: ms[i]}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	return ms, port
}

// trioSE declares host on port 80 over the three endpoints.
func trioSE(name, host string, port int) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %s, namespace: test}
spec:
  hosts: [%s]
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: %d}]
  endpoints: [{address: 127.0.0.1}, {address: 127.0.0.2}, {address: 127.0.0.3}]
---
`, name, host, port)
}

func trioDR(name, host, policy string) string {
	return fmt.Sprintf("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: %s, namespace: test}\nspec:\n  host: %s\n  trafficPolicy:\n%s---\n", name, host, policy)
}

// proxyClient is a keep-alive client through the gateway's proxy.
func proxyClient(g *Gateway) *http.Client {
	pu, _ := url.Parse("http://" + g.Proxy)
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(pu), MaxIdleConnsPerHost: 16}}
}

// call GETs u with header x-user (when set) and returns status, body
// and Sluice-Reason.
func call(t *testing.T, c *http.Client, u, user string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if user != "" {
		req.Header.Set("X-User", user)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Sluice-Reason")
}

// upstreams reads GET /v1/upstreams.
type clusterView struct {
	Name      string `json:"name"`
	Ejections int64  `json:"ejections"`
	Ejected   int    `json:"ejected"`
	Overflows int64  `json:"overflows"`
	Panics    int64  `json:"panics"`
	Pending   int64  `json:"pending"`
	Endpoints []struct {
		Address string `json:"address"`
		Ejected bool   `json:"ejected"`
	} `json:"endpoints"`
}

func upstreamsView(t *testing.T, g *Gateway, name string) clusterView {
	t.Helper()
	code, body := g.AdminGet("/v1/upstreams")
	if code != 200 {
		t.Fatalf("GET /v1/upstreams = %d %s", code, body)
	}
	var v struct{ Clusters []clusterView }
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	for _, c := range v.Clusters {
		if c.Name == name {
			return c
		}
	}
	return clusterView{}
}

func TestTrafficPolicyLoadBalancing(t *testing.T) {
	ms, port := startTrio(t)
	g := StartGateway(t, Options{Files: map[string]string{"registry/r.yaml": trioSE("rr", "rr.example", port) +
		trioDR("rr", "rr.example", "    loadBalancer: {simple: ROUND_ROBIN}\n") +
		trioSE("lr", "lr.example", port) + trioDR("lr", "lr.example", "    loadBalancer: {simple: LEAST_REQUEST}\n") +
		trioSE("hash", "hash.example", port) + trioDR("hash", "hash.example", "    loadBalancer: {consistentHash: {httpHeaderName: x-user}}\n")}})
	c := proxyClient(g)

	t.Run("round robin spreads calls evenly", func(t *testing.T) {
		got := map[string]int{}
		for range 30 {
			st, body, _ := call(t, c, "http://rr.example/", "")
			if st != 200 {
				t.Fatalf("status %d %s", st, body)
			}
			got[body]++
		}
		if got["ep1"] != 10 || got["ep2"] != 10 || got["ep3"] != 10 {
			t.Fatalf("spread %v, want 10 each", got)
		}
	})

	t.Run("least request prefers idle endpoints over a slow one", func(t *testing.T) {
		ms[0].delay.Store(int64(time.Second))
		defer ms[0].delay.Store(0)
		got := map[string]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		stop := time.Now().Add(3 * time.Second)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					_, body, _ := call(t, c, "http://lr.example/", "")
					mu.Lock()
					got[body]++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		// ep1 takes a call only when it is idle (about one a second);
		// round robin would give it a third.
		total := got["ep1"] + got["ep2"] + got["ep3"]
		if got["ep1"]*10 > total {
			t.Fatalf("slow ep1 got %d of %d calls (%v); least request should send it few", got["ep1"], total, got)
		}
		t.Logf("least request over 3 s: %v", got)
	})

	t.Run("a consistent hash on a header pins each value to one endpoint", func(t *testing.T) {
		used := map[string]bool{}
		for u := range 20 {
			user := fmt.Sprintf("user-%d", u)
			_, first, _ := call(t, c, "http://hash.example/", user)
			used[first] = true
			for range 4 {
				if _, got, _ := call(t, c, "http://hash.example/", user); got != first {
					t.Fatalf("%s went to %s, then %s", user, first, got)
				}
			}
		}
		if len(used) < 2 {
			t.Fatalf("20 users all on %v", used)
		}
	})
}

func TestTrafficPolicyOutlierDetection(t *testing.T) {
	ms, port := startTrio(t)
	od := "    loadBalancer: {simple: ROUND_ROBIN}\n    outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 2s, maxEjectionPercent: 100%s}\n"
	g := StartGateway(t, Options{Files: map[string]string{"registry/r.yaml": trioSE("od", "od.example", port) +
		trioDR("od", "od.example", fmt.Sprintf(od, "")) +
		trioSE("panic", "panic.example", port) + trioDR("panic", "panic.example", fmt.Sprintf(od, ", minHealthPercent: 70"))}})
	c := proxyClient(g)
	ms[1].status.Store(503)

	t.Run("an endpoint failing consecutive5xxErrors times is ejected and returns after baseEjectionTime", func(t *testing.T) {
		for range 9 { // round robin: ep2 has failed 3 times
			call(t, c, "http://od.example/", "")
		}
		v := upstreamsView(t, g, "test/od:80")
		if v.Ejected != 1 || v.Ejections != 1 {
			t.Fatalf("after 3 failures of ep2: %+v", v)
		}
		for range 12 {
			if st, body, _ := call(t, c, "http://od.example/", ""); st != 200 || body == "ep2" {
				t.Fatalf("an ejected endpoint answered: %d %s", st, body)
			}
		}
		_, metrics := g.AdminGet("/metrics")
		if !strings.Contains(string(metrics), `sluice_upstream_ejections_total{cluster="test/od:80"`) ||
			!strings.Contains(string(metrics), `sluice_upstream_ejected_endpoints{cluster="test/od:80"`) {
			t.Errorf("ejection metrics missing:\n%s", grepLines(string(metrics), "sluice_upstream"))
		}
		ms[1].status.Store(0)
		time.Sleep(2100 * time.Millisecond)
		back := false
		for range 6 {
			_, body, _ := call(t, c, "http://od.example/", "")
			back = back || body == "ep2"
		}
		if !back {
			t.Fatalf("ep2 did not return after baseEjectionTime: %+v", upstreamsView(t, g, "test/od:80"))
		}
	})

	t.Run("below minHealthPercent, panic mode balances over every endpoint", func(t *testing.T) {
		ms[1].status.Store(503)
		defer ms[1].status.Store(0)
		for range 9 {
			call(t, c, "http://panic.example/", "")
		}
		v := upstreamsView(t, g, "test/panic:80")
		if v.Ejected != 1 {
			t.Fatalf("ep2 not ejected: %+v", v)
		}
		reached := 0
		for range 9 {
			if _, body, _ := call(t, c, "http://panic.example/", ""); body == "ep2" {
				reached++
			}
		}
		// 2 of 3 healthy (66%) is under 70%: the ejected endpoint still
		// takes its share.
		if v := upstreamsView(t, g, "test/panic:80"); reached == 0 || v.Panics == 0 {
			t.Fatalf("panic mode not observed: ep2 reached %d times, %+v", reached, v)
		}
	})
}

func TestTrafficPolicyPoolOverflow(t *testing.T) {
	ms, port := startTrio(t)
	for _, m := range ms {
		m.delay.Store(int64(time.Second))
	}
	g := StartGateway(t, Options{Files: map[string]string{"registry/r.yaml": trioSE("pool", "pool.example", port) +
		trioDR("pool", "pool.example", "    connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}\n")}})
	c := proxyClient(g)
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]int{}
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _, reason := call(t, c, "http://pool.example/", "")
			mu.Lock()
			got[fmt.Sprintf("%d %s", st, reason)]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if got["200 "] != 2 || got["503 upstream_overflow"] != 3 {
		t.Fatalf("5 concurrent calls, pool of 1 + 1 pending: %v", got)
	}
	overflowed := 0
	Eventually(t, 10*time.Second, "3 upstream_overflow records", func() bool {
		overflowed = 0
		for _, r := range records(t, g, url.Values{"host": {"pool.example"}}) {
			if r.str("reason") == "upstream_overflow" && r.num("status") == 503 {
				overflowed++
			}
		}
		return overflowed == 3
	})
	_, metrics := g.AdminGet("/metrics")
	if !strings.Contains(string(metrics), `reason="upstream_overflow"`) || !strings.Contains(string(metrics), `sluice_upstream_overflows_total{cluster="test/pool:80"`) {
		t.Errorf("overflow not counted:\n%s", grepLines(string(metrics), "upstream_overflow"))
	}
}

// TestTrafficPolicyValidate: `sluice validate` rejects a misspelt key
// in a traffic policy with the field and Istio's spelling, and names a
// field it does not apply.
func TestTrafficPolicyValidate(t *testing.T) {
	dir := t.TempDir()
	WriteFile(t, dir+"/sluice.yaml", "registry: {paths: [registry]}\npolicy: {paths: []}\n")
	WriteFile(t, dir+"/registry/r.yaml", trioSE("api", "api.example", 8080)+
		trioDR("api", "api.example", "    connectionPool: {tcp: {maxConnectons: 1}}\n    retryBudget: {percent: 20}\n"))
	out, code := RunSluice(t, dir, "validate", "-c", "sluice.yaml")
	if code == 0 || !strings.Contains(out, `spec.trafficPolicy.connectionPool.tcp.maxConnectons: unknown key "maxConnectons"`) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	WriteFile(t, dir+"/registry/r.yaml", trioSE("api", "api.example", 8080)+
		trioDR("api", "api.example", "    connectionPool: {tcp: {maxConnections: 1}}\n    retryBudget: {percent: 20}\n"))
	out, code = RunSluice(t, dir, "validate", "-c", "sluice.yaml")
	if code != 0 || !strings.Contains(out, "spec.trafficPolicy.retryBudget: not applied by sluice: retryBudget has no effect") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// openTunnel sends CONNECT host:port through the proxy and returns the
// connection and the status line's code.
func openTunnel(t *testing.T, g *Gateway, target string) (net.Conn, int) {
	t.Helper()
	c, err := net.Dial("tcp", g.Proxy)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil {
		c.Close()
		t.Fatalf("CONNECT %s: %v", target, err)
	}
	return c, resp.StatusCode
}

// whoAnswers sends a GET through an open tunnel and returns the body.
func whoAnswers(t *testing.T, c net.Conn) string {
	t.Helper()
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestTrafficPolicyTunnels: CONNECT tunnels to a TCP port are balanced
// and count against maxConnections; beyond the pending queue they are
// refused with 503 upstream_overflow.
func TestTrafficPolicyTunnels(t *testing.T) {
	_, port := startTrio(t)
	se := fmt.Sprintf("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: db, namespace: test}\nspec:\n  hosts: [db.example]\n  resolution: STATIC\n  ports: [{number: 5432, name: tcp, protocol: TCP, targetPort: %d}]\n  endpoints: [{address: 127.0.0.1}, {address: 127.0.0.2}, {address: 127.0.0.3}]\n---\n", port)
	g := StartGateway(t, Options{Files: map[string]string{"registry/r.yaml": se +
		trioDR("db", "db.example", "    loadBalancer: {simple: ROUND_ROBIN}\n    connectionPool: {tcp: {maxConnections: 2}, http: {http1MaxPendingRequests: 1}}\n")}})
	var seen []string
	var open []net.Conn
	for range 2 {
		c, st := openTunnel(t, g, "db.example:5432")
		if st != 200 {
			t.Fatalf("tunnel: %d", st)
		}
		open = append(open, c)
		seen = append(seen, whoAnswers(t, c))
	}
	if seen[0] == seen[1] {
		t.Fatalf("round robin sent both tunnels to %s", seen[0])
	}
	// The third waits for a place; the fourth is refused.
	third := make(chan int, 1)
	go func() {
		c, st := openTunnel(t, g, "db.example:5432")
		defer c.Close()
		third <- st
	}()
	Eventually(t, 5*time.Second, "a pending tunnel", func() bool { return upstreamsView(t, g, "test/db:5432").Pending == 1 })
	c, st := openTunnel(t, g, "db.example:5432")
	c.Close()
	if st != 503 {
		t.Fatalf("fourth tunnel: %d, want 503", st)
	}
	open[0].Close()
	if st := <-third; st != 200 {
		t.Fatalf("pending tunnel: %d, want 200 once a place freed", st)
	}
	open[1].Close()
	waitRecord(t, g, url.Values{"host": {"db.example"}}, "the refused tunnel", func(r record) bool { return r.str("reason") == "upstream_overflow" })
}
