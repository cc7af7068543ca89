package registry

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/lb"
)

// virtualService attaches to rt the http rules of the first
// VirtualService (in load order) that names rt's declared host and
// applies to the gateway (no gateways, or mesh). Only HTTP ports are
// routed by http rules.
func (b *builder) virtualService(rt *Route, vss []*Resource, dr *Resource, ds *Diagnostics) {
	if len(vss) == 0 {
		return
	}
	if !rt.Port.Protocol.IsHTTP() {
		b.virtualServiceL4(rt, vss, dr, ds)
		return
	}
	for _, r := range vss {
		vs := r.VirtualService
		if !appliesToGateway(vs, r.Metadata.Namespace, b.opts.Gateways) || !namesHost(vs, rt.Host) {
			continue
		}
		b.used[r] = true
		rt.VirtualService = r.Metadata.Namespace + "/" + r.Metadata.Name
		for i := range vs.HTTP {
			if rule, ok := b.compileHTTP(r, i, rt, dr, ds); ok {
				rt.HTTP = append(rt.HTTP, rule)
			}
		}
		return
	}
}

// appliesToGateway reports whether a VirtualService applies to sluice:
// it names no gateways, names mesh, or names one of ours
// (registry.gateways, "namespace/name"; a bare name is in the
// VirtualService's namespace, as Istio reads it).
func appliesToGateway(vs *VirtualServiceSpec, ns string, ours []string) bool {
	if len(vs.Gateways) == 0 {
		return true
	}
	for _, g := range vs.Gateways {
		if g == "mesh" {
			return true
		}
		if !strings.Contains(g, "/") {
			g = ns + "/" + g
		}
		for _, o := range ours {
			if g == o {
				return true
			}
		}
	}
	return false
}

func namesHost(vs *VirtualServiceSpec, host string) bool {
	for _, h := range vs.Hosts {
		if NormalizeHost(h) == host {
			return true
		}
	}
	return false
}

// compileHTTP compiles http rule i of the VirtualService r for rt. A
// rule that only redirects or answers by itself, or whose destinations
// all name other hosts, is left out (its fields were warned about).
func (b *builder) compileHTTP(r *Resource, i int, rt *Route, dr *Resource, ds *Diagnostics) (HTTPRule, bool) {
	h := r.VirtualService.HTTP[i]
	f := fmt.Sprintf("spec.http[%d]", i)
	name := h.Name
	if name == "" {
		name = strconv.Itoa(i)
	}
	rule := HTTPRule{Name: r.Metadata.Namespace + "/" + r.Metadata.Name + "#" + name}
	rule.Timeout, _ = ParseDuration(orZero(h.Timeout))
	rule.Retry = compileRetry(h.Retries)
	for _, m := range h.Match {
		hm := HTTPMatch{URI: compileStr(m.URI), Method: compileStr(m.Method), Port: int(m.Port)}
		for _, k := range sortedKeys(m.Headers) {
			hm.Headers = append(hm.Headers, HeaderMatch{Name: http.CanonicalHeaderKey(k), Match: compileStr(m.Headers[k])})
		}
		rule.Match = append(rule.Match, hm)
	}
	for j, d := range h.Route {
		if d.Destination == nil {
			continue
		}
		df := fmt.Sprintf("%s.route[%d].destination", f, j)
		rd, ok := b.routeDest(r, df, d.Destination, int(d.Weight), rt, dr, ds, false)
		if !ok {
			continue
		}
		rule.Dests = append(rule.Dests, rd)
		rule.total += rd.Weight
	}
	if len(rule.Dests) == 0 {
		return rule, false
	}
	return rule, true
}

func findSubset(dr *Resource, name string) *Subset {
	if dr == nil {
		return nil
	}
	for i := range dr.DestinationRule.Subsets {
		if s := &dr.DestinationRule.Subsets[i]; s.Name == name {
			return s
		}
	}
	return nil
}

// subsetTraffic is Istio's MergeTrafficPolicy: the subset's policy
// overrides the top level field by field; a port-level entry of the
// subset for the port replaces both.
func (b *builder) subsetTraffic(dr *Resource, s *Subset, rt *Route) (*lb.Config, string) {
	cluster := rt.Entry.Namespace + "/" + rt.Entry.Name + ":" + strconv.Itoa(rt.Port.Number) + "/" + s.Name
	top := dr.DestinationRule.TrafficPolicy
	merged := TrafficPolicy{}
	if top != nil {
		merged.LoadBalancer, merged.ConnectionPool, merged.OutlierDetection = top.LoadBalancer, top.ConnectionPool, top.OutlierDetection
		for _, pl := range top.PortLevelSettings {
			if pl.Port != nil && pl.Port.Number == rt.Port.Number {
				merged.LoadBalancer, merged.ConnectionPool, merged.OutlierDetection = pl.LoadBalancer, pl.ConnectionPool, pl.OutlierDetection
				break
			}
		}
	}
	if sp := s.TrafficPolicy; sp != nil {
		portLevel := false
		for _, pl := range sp.PortLevelSettings {
			if pl.Port != nil && pl.Port.Number == rt.Port.Number {
				merged.LoadBalancer, merged.ConnectionPool, merged.OutlierDetection = pl.LoadBalancer, pl.ConnectionPool, pl.OutlierDetection
				portLevel = true
				break
			}
		}
		if !portLevel {
			if sp.LoadBalancer != nil {
				merged.LoadBalancer = sp.LoadBalancer
			}
			if sp.ConnectionPool != nil {
				merged.ConnectionPool = sp.ConnectionPool
			}
			if sp.OutlierDetection != nil {
				merged.OutlierDetection = sp.OutlierDetection
			}
		}
	}
	if merged.LoadBalancer == nil && merged.ConnectionPool == nil && merged.OutlierDetection == nil {
		return nil, cluster
	}
	return &lb.Config{LB: lbConfig(merged.LoadBalancer), Pool: poolConfig(merged.ConnectionPool), Outlier: outlierConfig(merged.OutlierDetection)}, cluster
}

func compileStr(sm *StringMatch) StrMatch {
	switch {
	case sm == nil:
		return StrMatch{}
	case sm.Exact != nil:
		return StrMatch{Exact: *sm.Exact, kind: 1}
	case sm.Prefix != nil:
		return StrMatch{Prefix: *sm.Prefix, kind: 2}
	case sm.Regex != nil:
		re, err := regexp.Compile("^(?:" + *sm.Regex + ")$")
		if err != nil {
			return StrMatch{}
		}
		return StrMatch{Regex: *sm.Regex, kind: 3, re: re}
	}
	return StrMatch{}
}

// compileRetry applies Istio's defaults: no retries field is 2 attempts
// on connect-failure, refused-stream and 503; a retryOn left out is that
// default set.
func compileRetry(r *HTTPRetry) Retry {
	def := Retry{Attempts: 2, OnConnect: true, OnReset: false, Codes: []int{503}}
	if r == nil {
		return def
	}
	out := Retry{Attempts: int(r.Attempts)}
	out.PerTryTimeout, _ = ParseDuration(orZero(r.PerTryTimeout))
	on := r.RetryOn
	if on == "" {
		out.OnConnect, out.Codes = true, []int{503}
		return out
	}
	for _, p := range strings.Split(on, ",") {
		switch p {
		case "5xx":
			out.On5xx = true
		case "gateway-error":
			out.OnGateway = true
		case "connect-failure":
			out.OnConnect = true
		case "reset", "reset-before-request", "refused-stream":
			out.OnReset = true
		case "retriable-status-codes":
			// codes are listed beside it
		default:
			if n, err := strconv.Atoi(p); err == nil {
				out.Codes = append(out.Codes, n)
			}
		}
	}
	return out
}
