package e2e

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"
)

// endpointMultiplier reads an endpoint's ejection state from
// /v1/upstreams.
func endpointMultiplier(t *testing.T, g *Gateway, cluster, addr string) (ejected bool, mult int64) {
	t.Helper()
	_, body := g.AdminGet("/v1/upstreams")
	var v struct {
		Clusters []struct {
			Name      string
			Endpoints []struct {
				Address    string `json:"address"`
				Ejected    bool   `json:"ejected"`
				Multiplier int64  `json:"ejectionMultiplier"`
			} `json:"endpoints"`
		}
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	for _, c := range v.Clusters {
		for _, e := range c.Endpoints {
			if c.Name == cluster && e.Address == addr {
				return e.Ejected, e.Multiplier
			}
		}
	}
	return false, 0
}

// TestTrafficPolicyEjectionMultiplierDecays: an endpoint ejected again
// as soon as it returns has its multiplier raised (ejected for twice
// baseEjectionTime); once it has stayed healthy for some intervals the
// multiplier has come down, and its next ejection is baseEjectionTime
// again, as Envoy does it.
func TestTrafficPolicyEjectionMultiplierDecays(t *testing.T) {
	ms, port := startTrio(t)
	g := StartGateway(t, Options{Files: map[string]string{"registry/r.yaml": trioSE("dk", "dk.example", port) +
		trioDR("dk", "dk.example", "    loadBalancer: {simple: ROUND_ROBIN}\n    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1s, maxEjectionPercent: 100}\n")}})
	c := proxyClient(g)
	ep2 := "127.0.0.2:" + strconv.Itoa(port)
	const cluster = "test/dk:80"
	ejectEp2 := func() int64 {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			call(t, c, "http://dk.example/", "")
			if ej, m := endpointMultiplier(t, g, cluster, ep2); ej {
				return m
			}
		}
		t.Fatal("ep2 not ejected")
		return 0
	}
	waitBack := func() {
		t.Helper()
		Eventually(t, 10*time.Second, "ep2 back in service", func() bool {
			ej, _ := endpointMultiplier(t, g, cluster, ep2)
			return !ej
		})
	}
	ms[1].status.Store(503)
	if m := ejectEp2(); m != 1 {
		t.Fatalf("first ejection: multiplier %d, want 1", m)
	}
	waitBack()
	if m := ejectEp2(); m != 2 {
		t.Fatalf("ejected again at once: multiplier %d, want 2", m)
	}
	ms[1].status.Store(0)
	waitBack()
	time.Sleep(3 * time.Second) // healthy for three intervals
	if _, m := endpointMultiplier(t, g, cluster, ep2); m != 0 {
		t.Fatalf("after three healthy intervals: multiplier %d, want 0", m)
	}
	ms[1].status.Store(503)
	if m := ejectEp2(); m != 1 {
		t.Fatalf("ejected after recovering: multiplier %d, want 1 (baseEjectionTime, not longer)", m)
	}
}
