package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// tcpSE declares host on a TCP port over the three endpoints.
func tcpSE(name, host string, number, target int) string {
	return fmt.Sprintf("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: %s, namespace: test}\nspec:\n  hosts: [%s]\n  resolution: STATIC\n  ports: [{number: %d, name: tcp, protocol: TCP, targetPort: %d}]\n  endpoints: [{address: 127.0.0.1}, {address: 127.0.0.2}, {address: 127.0.0.3}]\n---\n", name, host, number, target)
}

// keepaliveTimers lists the keepalive timers (in clock ticks, 1/100 s)
// of the IPv4 sockets connected to port, from /proc/net/tcp.
func keepaliveTimers(t *testing.T, port int) []int {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skip("no /proc/net/tcp")
	}
	var out []int
	suffix := fmt.Sprintf(":%04X", port)
	for _, l := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) < 6 || !strings.HasSuffix(f[2], suffix) || f[3] != "01" { // rem_address, ESTABLISHED
			continue
		}
		tr, when, _ := strings.Cut(f[5], ":")
		if tr == "02" { // the keepalive timer
			n, _ := strconv.ParseInt(when, 16, 64)
			out = append(out, int(n))
		}
	}
	return out
}

// TestTrafficPolicyConnectionPoolSettings: maxRequestsPerConnection
// retires pooled connections, tcpKeepalive sets the upstream sockets'
// keepalive, and a tunnel is closed after maxConnectionDuration and
// after tcp.idleTimeout without traffic.
func TestTrafficPolicyConnectionPoolSettings(t *testing.T) {
	var mu sync.Mutex
	conns := map[string]int{}
	port := startTrioWith(t, func(i int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			conns[r.RemoteAddr]++
			mu.Unlock()
			fmt.Fprintf(w, "ep%d", i+1)
		})
	})
	g := StartGateway(t, Options{Files: map[string]string{"registry/r.yaml": trioSE("mr", "mr.example", port) +
		trioDR("mr", "mr.example", "    loadBalancer: {simple: ROUND_ROBIN}\n    connectionPool: {http: {maxRequestsPerConnection: 2, idleTimeout: 30s}, tcp: {tcpKeepalive: {time: 120s, interval: 10s, probes: 3}}}\n") +
		tcpSE("life", "life.example", 5432, port) + trioDR("life", "life.example", "    connectionPool: {tcp: {maxConnectionDuration: 1s}}\n") +
		tcpSE("idle", "idle.example", 5432, port) + trioDR("idle", "idle.example", "    connectionPool: {tcp: {idleTimeout: 1s}}\n")}})

	t.Run("maxRequestsPerConnection retires connections, tcpKeepalive is set", func(t *testing.T) {
		c := proxyClient(g)
		for range 12 {
			if st, body, _ := call(t, c, "http://mr.example/", ""); st != 200 {
				t.Fatalf("%d %s", st, body)
			}
		}
		mu.Lock()
		seen := map[string]int{}
		for k, v := range conns {
			seen[k] = v
		}
		mu.Unlock()
		for addr, n := range seen {
			if n > 2 {
				t.Fatalf("connection %s carried %d requests, want at most 2 (%v)", addr, n, seen)
			}
		}
		if len(seen) != 6 {
			t.Fatalf("12 requests over 3 endpoints, 2 per connection: %d connections %v, want 6", len(seen), seen)
		}
		// The gateway's pooled connections (the last of each endpoint is
		// closed after its second request; make one that stays open).
		call(t, c, "http://mr.example/", "")
		timers := keepaliveTimers(t, port)
		found := false
		for _, ticks := range timers {
			found = found || ticks > 60*100 // Go's default is 15 s; the policy says 120 s
		}
		if !found {
			t.Fatalf("no upstream socket with a 120s keepalive: timers %v", timers)
		}
	})

	tunnelLife := func(t *testing.T, host string, talk bool) time.Duration {
		c, st := openTunnel(t, g, host+":5432")
		defer c.Close()
		if st != 200 {
			t.Fatalf("tunnel %d", st)
		}
		start := time.Now()
		br := bufio.NewReader(c)
		if talk { // keep it busy for 1.5 s
			for time.Since(start) < 1500*time.Millisecond {
				fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					return time.Since(start)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				time.Sleep(200 * time.Millisecond)
			}
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := br.ReadByte()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("tunnel to %s still open after 10s", host)
		}
		return time.Since(start)
	}
	t.Run("a tunnel ends after maxConnectionDuration, busy or not", func(t *testing.T) {
		if d := tunnelLife(t, "life.example", true); d < 800*time.Millisecond || d > 1400*time.Millisecond {
			t.Fatalf("tunnel lived %v, want about 1s", d)
		}
	})
	t.Run("a tunnel ends after tcp.idleTimeout without traffic, not while busy", func(t *testing.T) {
		if d := tunnelLife(t, "idle.example", true); d < 2*time.Second || d > 3500*time.Millisecond {
			t.Fatalf("busy for 1.5s then idle: tunnel lived %v, want about 2.5s", d)
		}
	})
}
