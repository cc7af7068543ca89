package registry

import (
	"fmt"
	"reflect"
	"strings"
)

// appliedTrafficPolicy lists the traffic-policy fields Sluice acts on, as
// paths relative to a traffic policy (a port-level policy has the same
// paths). A listed path covers everything under it. Every other field
// that is set draws a warning naming it: Sluice accepts what Istio
// accepts, but never silently ignores it.
func appliedTrafficPolicy() []string {
	perPort := []string{
		"tls",
		"loadBalancer.simple",
		"loadBalancer.consistentHash.httpHeaderName",
		"loadBalancer.consistentHash.httpQueryParameterName",
		"loadBalancer.consistentHash.useSourceIp",
		"loadBalancer.consistentHash.httpCookie",
		"connectionPool.tcp.maxConnections",
		"connectionPool.tcp.connectTimeout",
		"connectionPool.tcp.tcpKeepalive",
		"connectionPool.tcp.maxConnectionDuration",
		"connectionPool.tcp.idleTimeout",
		"connectionPool.http.idleTimeout",
		"connectionPool.http.maxRequestsPerConnection",
		"connectionPool.http.http1MaxPendingRequests",
		"connectionPool.http.maxRetries",
		"outlierDetection.consecutive5xxErrors",
		"outlierDetection.consecutiveGatewayErrors",
		"outlierDetection.consecutiveLocalOriginFailures",
		"outlierDetection.splitExternalLocalOriginErrors",
		"outlierDetection.interval",
		"outlierDetection.baseEjectionTime",
		"outlierDetection.maxEjectionPercent",
		"outlierDetection.minHealthPercent",
	}
	out := append([]string{"portLevelSettings.port"}, perPort...)
	for _, p := range perPort {
		out = append(out, "portLevelSettings."+p)
	}
	return out
}

// unapplied warns about the fields of dr that are set and that Sluice
// does not apply.
func (c *checker) unapplied(dr *DestinationRuleSpec) {
	if dr.WorkloadSelector != nil {
		// Build replaces this when the gateway's pod labels are
		// configured (workload.go).
		c.warnf("spec.workloadSelector", workloadSelectorUnjudged)
	}
	applied := appliedTrafficPolicy()
	c.unappliedIn("spec.trafficPolicy", "", reflect.ValueOf(dr.TrafficPolicy), applied)
	// A subset's policy applies to the calls a VirtualService routes to
	// the subset.
	for i, s := range dr.Subsets {
		c.unappliedIn(fmt.Sprintf("spec.subsets[%d].trafficPolicy", i), "", reflect.ValueOf(s.TrafficPolicy), applied)
	}
}

// unappliedIn walks v, the value at field (rel is its path relative to
// the traffic policy), and warns at the first set field on each branch
// that no applied path covers.
func (c *checker) unappliedIn(field, rel string, v reflect.Value, applied []string) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	if rel != "" {
		covered, partly := false, false
		for _, a := range applied {
			covered = covered || a == rel || strings.HasPrefix(rel, a+".")
			partly = partly || strings.HasPrefix(a, rel+".")
		}
		switch {
		case covered:
			return
		case !partly:
			if !v.IsZero() {
				c.warnf(field, "not applied by sluice: %s has no effect on calls through the gateway", rel)
			}
			return
		}
	}
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if tag == "" {
				continue
			}
			sub := tag
			if rel != "" {
				sub = rel + "." + tag
			}
			c.unappliedIn(field+"."+tag, sub, v.Field(i), applied)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			c.unappliedIn(fmt.Sprintf("%s[%d]", field, i), rel, v.Index(i), applied)
		}
	}
}
