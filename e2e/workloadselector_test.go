package e2e

import (
	"strings"
	"testing"
)

// TestTrafficPolicyWorkloadSelector: with registry.kubernetes.pod_labels
// set, a DestinationRule whose workloadSelector selects the gateway's
// labels applies (round robin over the trio), one selecting other
// workloads does not (calls take the plain path, to the first endpoint)
// and `sluice validate` names it.
func TestTrafficPolicyWorkloadSelector(t *testing.T) {
	_, port := startTrio(t)
	rr := "    loadBalancer: {simple: ROUND_ROBIN}\n"
	reg := trioSE("sel", "sel.example", port) +
		strings.Replace(trioDR("sel", "sel.example", rr), "spec:\n", "spec:\n  workloadSelector: {matchLabels: {app: sluice}}\n", 1) +
		trioSE("other", "other.example", port) +
		strings.Replace(trioDR("other", "other.example", rr), "spec:\n", "spec:\n  workloadSelector: {matchLabels: {app: billing}}\n", 1)
	const cfg = "registry: {paths: [registry], kubernetes: {pod_labels: {app: sluice, team: egress}}}\n"
	g := StartGateway(t, Options{Config: cfg, Files: map[string]string{"registry/r.yaml": reg}})
	c := proxyClient(g)
	spread := func(host string) map[string]int {
		got := map[string]int{}
		for range 12 {
			st, body, _ := call(t, c, "http://"+host+"/", "")
			if st != 200 {
				t.Fatalf("%s: %d %s", host, st, body)
			}
			got[body]++
		}
		return got
	}
	if got := spread("sel.example"); got["ep1"] != 4 || got["ep2"] != 4 || got["ep3"] != 4 {
		t.Errorf("the rule selecting the gateway: %v, want round robin", got)
	}
	if got := spread("other.example"); got["ep1"] != 12 {
		t.Errorf("the rule for other workloads applied: %v, want the plain path (ep1)", got)
	}
	out, code := RunSluice(t, g.Dir, "validate", "-c", "sluice.yaml")
	if code != 0 || !strings.Contains(out, "DestinationRule test/other: spec.workloadSelector: workloadSelector {app: billing} does not select this gateway (registry.kubernetes.pod_labels {app: sluice, team: egress}); this DestinationRule does not apply") ||
		strings.Contains(out, "test/sel: spec.workloadSelector") {
		t.Fatalf("validate exit %d:\n%s", code, out)
	}
}
