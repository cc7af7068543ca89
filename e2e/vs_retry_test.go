package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// startTrioWith starts handler(i) for endpoint i on 127.0.0.(i+1), one
// port, and returns the port.
func startTrioWith(t *testing.T, handler func(i int) http.Handler) int {
	t.Helper()
	lns, port := listenTrio(t)
	for i, ln := range lns {
		srv := &http.Server{Handler: handler(i)}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	return port
}

// post sends body to u and returns the status and the answer.
func post(t *testing.T, c *http.Client, u, body string) (int, string) {
	t.Helper()
	resp, err := c.Post(u, "application/octet-stream", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestVirtualServiceRetriesWithABody: a request body within the retry
// buffer (64 KiB) is sent again on a retry, whole; a longer one is
// streamed and the request is not retried (attempts 1).
func TestVirtualServiceRetriesWithABody(t *testing.T) {
	var flaky atomic.Bool // ep2 answers 503 after reading the body
	flaky.Store(true)
	port := startTrioWith(t, func(i int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			if i == 1 && flaky.Load() {
				w.WriteHeader(503)
			}
			fmt.Fprintf(w, "ep%d:%d", i+1, len(b))
		})
	})
	g := StartGateway(t, Options{Files: map[string]string{"registry/r.yaml": trioSE("up", "up.example", port) +
		trioDR("up", "up.example", "    loadBalancer: {simple: ROUND_ROBIN}\n") +
		vsYAML("up", "  hosts: [up.example]\n  http: [{name: all, route: [{destination: {host: up.example}}], retries: {attempts: 3, retryOn: 5xx}}]\n")}})
	c := proxyClient(g)

	small := strings.Repeat("s", 10_000)
	for range 6 {
		st, body := post(t, c, "http://up.example/small", small)
		if st != 200 || !strings.HasSuffix(body, ":10000") || strings.HasPrefix(body, "ep2") {
			t.Fatalf("small body: %d %s", st, body)
		}
	}
	large := strings.Repeat("L", 100_000)
	failed := 0
	for range 6 {
		st, body := post(t, c, "http://up.example/large", large)
		if !strings.HasSuffix(body, ":100000") {
			t.Fatalf("large body: %d %s", st, body)
		}
		if st == 503 {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("no large-body call met the failing endpoint: round robin should send two of six there")
	}
	Eventually(t, 10*time.Second, "12 records", func() bool {
		rs := records(t, g, url.Values{"host": {"up.example"}})
		if len(rs) != 12 {
			return false
		}
		retried, large503 := 0, 0
		for _, r := range rs {
			switch r.str("path") {
			case "/small":
				if r.num("attempts") == 2 {
					retried++
				}
			case "/large":
				if r.num("attempts") != 1 {
					t.Fatalf("a large-body call was retried: %v", r)
				}
				if r.num("status") == 503 {
					large503++
				}
			}
		}
		if retried == 0 || large503 != failed {
			t.Fatalf("small bodies retried %d times (want some), large 503s on record %d (want %d)", retried, large503, failed)
		}
		return true
	})
}

// TestTrafficPolicyMaxRetries: with connectionPool.http.maxRetries 1,
// of three requests failing at once only one is retried while its retry
// is in flight; the other two get the upstream's 503 after one attempt.
func TestTrafficPolicyMaxRetries(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{} // Sluice-Request-Id of first attempts
	port := startTrioWith(t, func(i int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("Sluice-Request-Id")
			mu.Lock()
			retry := seen[id]
			seen[id] = true
			mu.Unlock()
			if !retry {
				w.WriteHeader(503) // every first attempt fails at once
				return
			}
			time.Sleep(time.Second) // the retry stays in flight a while
			fmt.Fprint(w, "retried")
		})
	})
	g := StartGateway(t, Options{Files: map[string]string{"registry/r.yaml": trioSE("mr", "mr.example", port) +
		trioDR("mr", "mr.example", "    connectionPool: {http: {maxRetries: 1}}\n") +
		vsYAML("mr", "  hosts: [mr.example]\n  http: [{route: [{destination: {host: mr.example}}], retries: {attempts: 2, retryOn: 5xx}}]\n")}})
	c := proxyClient(g)
	var wg sync.WaitGroup
	got := map[int]int{}
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _, _ := call(t, c, "http://mr.example/", "")
			mu.Lock()
			got[st]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if got[200] != 1 || got[503] != 2 {
		t.Fatalf("3 failing requests, maxRetries 1: %v, want one 200 and two 503", got)
	}
	Eventually(t, 10*time.Second, "3 records", func() bool {
		one, two := 0, 0
		for _, r := range records(t, g, url.Values{"host": {"mr.example"}}) {
			switch {
			case r.num("attempts") == 1 && r.num("status") == 503:
				one++
			case r.num("attempts") == 2 && r.num("status") == 200:
				two++
			}
		}
		return one == 2 && two == 1
	})
	if v := upstreamsView(t, g, "test/mr:80"); v.Name == "" {
		t.Fatal("cluster not shown")
	}
}
