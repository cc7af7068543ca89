package kube

import (
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// gatewayRule is what Sluice reads of an Istio Gateway: the pods it
// selects and, per server, the port and hosts.
type gatewayRule struct {
	name     string // namespace/name
	ns       string
	selector map[string]string
	servers  []gatewayServer
}

type gatewayServer struct {
	port  int
	hosts []gatewayHost
}

// gatewayHost is one "namespace/dnsName" of a server: the ServiceEntries
// of which namespaces ("*": any) may declare which names.
type gatewayHost struct{ ns, name string }

// readGateway reads a Gateway object; nil when it has no selector.
func readGateway(u *unstructured.Unstructured) *gatewayRule {
	sel, _, _ := unstructured.NestedStringMap(u.Object, "spec", "selector")
	if len(sel) == 0 {
		return nil
	}
	g := &gatewayRule{name: u.GetNamespace() + "/" + u.GetName(), ns: u.GetNamespace(), selector: sel}
	servers, _, _ := unstructured.NestedSlice(u.Object, "spec", "servers")
	for _, s := range servers {
		m, ok := s.(map[string]any)
		if !ok {
			continue
		}
		port, _, _ := unstructured.NestedInt64(m, "port", "number")
		hosts, _, _ := unstructured.NestedStringSlice(m, "hosts")
		srv := gatewayServer{port: int(port)}
		for _, h := range hosts {
			ns, name, ok := strings.Cut(h, "/")
			if !ok {
				ns, name = "*", h
			}
			if ns == "." {
				ns = g.ns
			}
			srv.hosts = append(srv.hosts, gatewayHost{ns: ns, name: strings.ToLower(strings.TrimSuffix(name, "."))})
		}
		g.servers = append(g.servers, srv)
	}
	return g
}

// selects reports whether the Gateway's selector matches the gateway's
// own pod labels.
func (g *gatewayRule) selects(podLabels map[string]string) bool {
	if len(podLabels) == 0 {
		return false
	}
	for k, v := range g.selector {
		if podLabels[k] != v {
			return false
		}
	}
	return true
}

// allows reports whether a server of g lists host pattern (of a
// ServiceEntry in namespace ns) on port: the same name, "*", or a
// wildcard covering it.
func (g *gatewayRule) allows(ns, pattern string, port int) bool {
	for _, s := range g.servers {
		if s.port != port {
			continue
		}
		for _, h := range s.hosts {
			if h.ns != "*" && h.ns != ns {
				continue
			}
			if h.name == "*" || h.name == pattern || strings.HasPrefix(h.name, "*.") && strings.HasSuffix(pattern, h.name[1:]) && len(pattern) > len(h.name)-1 {
				return true
			}
		}
	}
	return false
}

// Restriction narrows the declared set to what the Gateways that select
// this gateway's pods (Options.PodLabels) list, as Istio's gateway would:
// a host:port is declared only when a server of one of them lists it.
// With no such Gateway nothing is narrowed.
func (s *Source) Restriction() (func(ns, pattern string, port int) bool, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var rules []*gatewayRule
	for _, inf := range s.informers["Gateway"] {
		for _, o := range inf.GetStore().List() {
			if c, ok := o.(*compact); ok && c.Gateway != nil && c.Gateway.selects(s.opts.PodLabels) {
				rules = append(rules, c.Gateway)
			}
		}
	}
	s.status.Gateways = s.status.Gateways[:0]
	for _, g := range rules {
		s.status.Gateways = append(s.status.Gateways, g.name)
	}
	sort.Strings(s.status.Gateways)
	if len(rules) == 0 {
		return nil, false
	}
	return func(ns, pattern string, port int) bool {
		for _, g := range rules {
			if g.allows(ns, pattern, port) {
				return true
			}
		}
		return false
	}, true
}
