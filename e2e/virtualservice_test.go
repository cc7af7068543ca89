package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// VirtualService routing end to end, over the three loopback endpoints of
// trafficpolicy_test.go: ep1 is labelled version v1, ep2 and ep3 v2.

func labelledTrioSE(name, host string, port int) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %s, namespace: test}
spec:
  hosts: [%s]
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: %d}]
  endpoints:
  - {address: 127.0.0.1, labels: {version: v1}}
  - {address: 127.0.0.2, labels: {version: v2}}
  - {address: 127.0.0.3, labels: {version: v2}}
---
`, name, host, port)
}

func vsYAML(name, spec string) string {
	return fmt.Sprintf("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: %s, namespace: test}\nspec:\n%s---\n", name, spec)
}

func TestVirtualServiceRouting(t *testing.T) {
	ms, port := startTrio(t)
	reg := labelledTrioSE("slow", "slow.example", port) +
		vsYAML("slow", "  hosts: [slow.example]\n  http: [{name: api, route: [{destination: {host: slow.example}}], timeout: 200ms}]\n") +
		labelledTrioSE("flaky", "flaky.example", port) +
		trioDR("flaky", "flaky.example", "    loadBalancer: {simple: ROUND_ROBIN}\n") +
		vsYAML("flaky", "  hosts: [flaky.example]\n  http: [{route: [{destination: {host: flaky.example}}], retries: {attempts: 3, retryOn: 5xx}}]\n") +
		labelledTrioSE("split", "split.example", port) +
		"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: split, namespace: test}\nspec:\n  host: split.example\n  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n---\n" +
		vsYAML("split", "  hosts: [split.example]\n  http: [{name: canary, route: [{destination: {host: split.example, subset: v1}, weight: 25}, {destination: {host: split.example, subset: v2}, weight: 75}]}]\n")
	g := StartGateway(t, Options{Files: map[string]string{"registry/r.yaml": reg}})
	c := proxyClient(g)

	t.Run("timeout 200ms against a slow upstream is 504 upstream_timeout after about 200ms", func(t *testing.T) {
		for _, m := range ms {
			m.delay.Store(int64(2 * time.Second))
		}
		defer func() {
			for _, m := range ms {
				m.delay.Store(0)
			}
		}()
		start := time.Now()
		st, _, reason := call(t, c, "http://slow.example/", "")
		took := time.Since(start)
		if st != 504 || reason != "upstream_timeout" || took < 180*time.Millisecond || took > time.Second {
			t.Fatalf("got %d %s after %v, want 504 upstream_timeout after about 200ms", st, reason, took)
		}
		r := waitRecord(t, g, url.Values{"host": {"slow.example"}}, "the timed-out call", func(r record) bool { return r.str("reason") == "upstream_timeout" })
		if r.str("route") != "test/slow#api" || r.num("attempts") != 1 {
			t.Errorf("record %v", r)
		}
	})

	t.Run("retries against a flaky upstream succeed, and the record counts the attempts", func(t *testing.T) {
		ms[1].status.Store(503)
		defer ms[1].status.Store(0)
		before := ms[1].hits.Load()
		for range 9 {
			if st, body, _ := call(t, c, "http://flaky.example/", ""); st != 200 || body == "ep2" {
				t.Fatalf("got %d %s", st, body)
			}
		}
		retried := 0
		Eventually(t, 10*time.Second, "9 records of flaky.example", func() bool {
			rs := records(t, g, url.Values{"host": {"flaky.example"}})
			retried = 0
			for _, r := range rs {
				if r.num("status") == 200 && r.num("attempts") == 2 {
					retried++
				}
			}
			return len(rs) == 9
		})
		if failed := ms[1].hits.Load() - before; failed == 0 || int64(retried) != failed {
			t.Fatalf("%d of 9 calls took 2 attempts; ep2 failed %d", retried, failed)
		}
	})

	t.Run("a weighted route splits calls between two subsets in proportion", func(t *testing.T) {
		got := map[string]int{}
		for range 400 {
			_, body, _ := call(t, c, "http://split.example/", "")
			got[body]++
		}
		v1, v2 := got["ep1"], got["ep2"]+got["ep3"]
		if v1 < 70 || v1 > 130 || v1+v2 != 400 {
			t.Fatalf("25/75 split over 400 calls: v1 %d, v2 %d (%v)", v1, v2, got)
		}
		r := waitRecord(t, g, url.Values{"host": {"split.example"}}, "a routed call", func(r record) bool { return r.str("subset") != "" })
		if r.str("route") != "test/split#canary" {
			t.Errorf("record %v", r)
		}
	})
}

// TestCheckShowsTheRoute: `sluice check` shows the VirtualService rule,
// subset, balancing, pool limits, timeout and retries, and the endpoint
// it would choose.
func TestCheckShowsTheRoute(t *testing.T) {
	dir := t.TempDir()
	WriteFile(t, dir+"/sluice.yaml", "registry: {paths: [registry]}\npolicy: {paths: []}\n")
	WriteFile(t, dir+"/registry/r.yaml", labelledTrioSE("api", "api.example", 8080)+
		"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: api, namespace: test}\nspec:\n  host: api.example\n  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {tcp: {maxConnections: 10}, http: {http1MaxPendingRequests: 5}}}\n  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n---\n"+
		vsYAML("api", "  hosts: [api.example]\n  http: [{name: canary, match: [{headers: {x-canary: {exact: '1'}}}], route: [{destination: {host: api.example, subset: v1}}]}, {name: charges, match: [{uri: {prefix: /v1/}}], route: [{destination: {host: api.example, subset: v2}}], timeout: 3s, retries: {attempts: 2, retryOn: gateway-error}}]\n"))
	out, code := RunSluice(t, dir, "check", "-c", "sluice.yaml", "--from", "10.0.0.1", "--url", "http://api.example/v1/charges")
	for _, want := range []string{"route:         test/api#charges (VirtualService test/api)", `"prefix":"/v1/"`, "subset:        v2",
		"timeout:       3s; retries: 2 attempts on gateway-error", "balancing:     ROUND_ROBIN (cluster test/api:80/v2)",
		"pool:          maxConnections 10, http1MaxPendingRequests 5", "endpoint now:  127.0.0.2:8080"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, want %q in:\n%s", code, want, out)
		}
	}
}

func TestCheckHeaderMatch(t *testing.T) {
	dir := t.TempDir()
	WriteFile(t, dir+"/sluice.yaml", "registry: {paths: [registry]}\npolicy: {paths: []}\n")
	WriteFile(t, dir+"/registry/r.yaml", labelledTrioSE("api", "api.example", 8080)+
		"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: api, namespace: test}\nspec:\n  host: api.example\n  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n---\n"+
		vsYAML("api", "  hosts: [api.example]\n  http: [{name: canary, match: [{headers: {x-canary: {exact: '1'}}}], route: [{destination: {host: api.example, subset: v1}}]}, {route: [{destination: {host: api.example, subset: v2}}]}]\n"))
	out, code := RunSluice(t, dir, "check", "-c", "sluice.yaml", "--url", "http://api.example/", "-H", "X-Canary: 1")
	if code != 0 || !strings.Contains(out, "route:         test/api#canary") || !strings.Contains(out, "endpoint now:  127.0.0.1:8080") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	out, code = RunSluice(t, dir, "check", "-c", "sluice.yaml", "--url", "http://api.example/")
	if code != 0 || !strings.Contains(out, "route:         test/api#1") || !strings.Contains(out, "subset:        v2") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
