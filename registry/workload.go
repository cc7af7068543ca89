package registry

import (
	"fmt"
	"sort"
	"strings"
)

// A DestinationRule's workloadSelector names the workloads (sidecars,
// gateways) it applies to. Sluice is one such workload when its pod
// labels are configured (registry.kubernetes.pod_labels,
// BuildOptions.PodLabels): a rule whose selector matches them applies,
// and takes precedence over rules without a selector, as in Istio; one
// whose selector does not match does not apply, and Build says so. With
// no pod labels configured the selector cannot be judged: the rule
// applies to every call, with a warning naming the field.

// workloadSelectorUnjudged is validation's warning on a rule with a
// workloadSelector; Build drops it when the pod labels are configured.
const workloadSelectorUnjudged = "not applied by sluice: workloadSelector selects sidecars and gateways by label; sluice applies this rule to every call through the gateway"

// parseChecks are r's validation findings as Build reports them: with
// the pod labels configured, a workloadSelector is judged by Build, not
// warned about as unjudged.
func parseChecks(r *Resource, opts BuildOptions) Diagnostics {
	if len(opts.PodLabels) == 0 || r.DestinationRule == nil || r.DestinationRule.WorkloadSelector == nil {
		return r.checks
	}
	out := make(Diagnostics, 0, len(r.checks))
	for _, d := range r.checks {
		if !(d.Field == "spec.workloadSelector" && d.Msg == workloadSelectorUnjudged) {
			out = append(out, d)
		}
	}
	return out
}

// selectsGateway reports whether dr applies to the gateway: it has no
// selector (or an empty one), the pod labels are not configured, or its
// matchLabels are all among them.
func (b *builder) selectsGateway(dr *Resource) bool {
	ws := dr.DestinationRule.WorkloadSelector
	if ws == nil || len(ws.MatchLabels) == 0 || len(b.opts.PodLabels) == 0 {
		return true
	}
	for k, v := range ws.MatchLabels {
		if have, ok := b.opts.PodLabels[k]; !ok || have != v {
			return false
		}
	}
	return true
}

// forGateway narrows equally specific candidate rules to those that
// apply to the gateway: the ones whose selector selects it if any,
// else those without a selector. It allocates only when a candidate has
// a selector.
func (b *builder) forGateway(rs []*Resource) []*Resource {
	any := false
	for _, r := range rs {
		any = any || r.DestinationRule.WorkloadSelector != nil && len(r.DestinationRule.WorkloadSelector.MatchLabels) > 0
	}
	if !any {
		return rs
	}
	var selected, plain []*Resource
	for _, r := range rs {
		ws := r.DestinationRule.WorkloadSelector
		switch {
		case ws == nil || len(ws.MatchLabels) == 0:
			plain = append(plain, r)
		case b.selectsGateway(r):
			selected = append(selected, r)
		}
	}
	if len(selected) > 0 {
		return selected
	}
	return plain
}

// workloadSelectorFinding is Build's word on dr's workloadSelector, if
// any: without pod labels, that it is not judged; with them, that it
// does not select the gateway (so the rule does not apply).
func (b *builder) workloadSelectorFinding(dr *Resource) (Diagnostic, bool) {
	ws := dr.DestinationRule.WorkloadSelector
	switch {
	case ws == nil:
		return Diagnostic{}, false
	case len(b.opts.PodLabels) == 0:
		return Diagnostic{}, false // validation warned (workloadSelectorUnjudged)
	case !b.selectsGateway(dr):
		return dr.diag(SevWarning, "spec.workloadSelector", "workloadSelector %s does not select this gateway (registry.kubernetes.pod_labels %s); this DestinationRule does not apply",
			labelString(ws.MatchLabels), labelString(b.opts.PodLabels)), true
	}
	return Diagnostic{}, false
}

// labelString writes labels as {k: v, …}, sorted.
func labelString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %s", k, m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
