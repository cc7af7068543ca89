package registry

import (
	"fmt"
	"strings"
	"testing"
)

// TestDestinationRuleWorkloadSelector: with the gateway's pod labels
// configured, a rule whose workloadSelector selects them applies (ahead
// of one without a selector), one that does not is reported and does
// not apply; without pod labels the selector is warned about as before.
func TestDestinationRuleWorkloadSelector(t *testing.T) {
	se := seDoc("  hosts: [api.example.com]\n  resolution: DNS\n  ports: [{number: 80, name: http, protocol: HTTP}]\n")
	dr := func(name, selector, lb string) string {
		return strings.Replace(drDoc("  host: api.example.com\n"+selector+"  trafficPolicy: {loadBalancer: {simple: "+lb+"}}\n"), "name: dr", "name: "+name, 1)
	}
	ours := dr("ours", "  workloadSelector: {matchLabels: {app: sluice}}\n", "RANDOM")
	theirs := dr("theirs", "  workloadSelector: {matchLabels: {app: other}}\n", "ROUND_ROBIN")
	plain := dr("plain", "", "LEAST_REQUEST")
	pod := map[string]string{"app": "sluice", "tier": "egress"}
	tests := []struct {
		name    string
		labels  map[string]string
		docs    []string
		want    string // the rule that applies ("" none)
		warning string // a warning that must be there
		not     string // a warning that must not
	}{
		{"selected rule applies, ahead of one without a selector", pod, []string{se, plain, ours}, "ns/ours", "", "workloadSelector"},
		{"a rule for other workloads does not apply", pod, []string{se, theirs}, "",
			"spec.workloadSelector: workloadSelector {app: other} does not select this gateway (registry.kubernetes.pod_labels {app: sluice, tier: egress}); this DestinationRule does not apply",
			"no ServiceEntry declares"},
		{"one without a selector applies when the other is not ours", pod, []string{se, theirs, plain}, "ns/plain", "does not select this gateway", ""},
		{"without pod labels: applies, warned as not judged", nil, []string{se, theirs}, "ns/theirs", "spec.workloadSelector: " + workloadSelectorUnjudged, ""},
		{"pod labels {} are none", map[string]string{}, []string{se, theirs}, "ns/theirs", workloadSelectorUnjudged, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, ds := buildDocs(t, BuildOptions{PodLabels: tc.labels}, tc.docs...)
			rt, _ := s.Lookup(mustHost(t, "api.example.com"), 80)
			if rt.DestinationRule != tc.want {
				t.Fatalf("rule %q, want %q", rt.DestinationRule, tc.want)
			}
			var all []string
			for _, d := range ds {
				all = append(all, d.Field+": "+d.Msg)
			}
			got := fmt.Sprint(all)
			if tc.warning != "" && !strings.Contains(got, tc.warning) {
				t.Errorf("missing %q in %v", tc.warning, all)
			}
			if tc.not != "" && strings.Contains(got, tc.not) {
				t.Errorf("unexpected %q in %v", tc.not, all)
			}
		})
	}
}
