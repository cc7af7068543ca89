package registry

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"
)

// BuildOptions tune how files become a snapshot.
type BuildOptions struct {
	// CredentialsDir holds one directory per DestinationRule credentialName
	// (a mounted Kubernetes Secret: tls.crt/tls.key/ca.crt or
	// cert/key/cacert). Default /etc/sluice/credentials.
	CredentialsDir string
	// MaxBytes bounds the total size of the files LoadPaths reads
	// (limits.registry_bytes); a larger set is refused whole with a
	// *SizeError. 0 = no limit.
	MaxBytes int64
	// Gateways are the Istio Gateways ("namespace/name") sluice stands
	// for (registry.gateways): VirtualServices naming one of them apply.
	Gateways []string
	// PodLabels are the labels of the gateway's own pods
	// (registry.kubernetes.pod_labels); none (nil or {}): not configured. A
	// DestinationRule with a workloadSelector applies only when it
	// selects them (workload.go).
	PodLabels map[string]string
}

// Build validates resources as one set and indexes them. It returns the
// snapshot (nil when there is any error) and every finding.
func Build(res []*Resource, opts BuildOptions) (*Snapshot, Diagnostics) {
	var ds Diagnostics
	seen := make(map[resourceKey]*Resource, len(res))
	for _, r := range res {
		id := resourceKey{r.Kind, r.Metadata.Namespace, r.Metadata.Name}
		if prev, ok := seen[id]; ok && r.Metadata.Name != "" {
			ds = append(ds, r.diag(SevError, "metadata.name", "duplicate %s (first defined in %s doc %d)", r.ID(), prev.Source.File, prev.Source.Doc))
			continue
		}
		seen[id] = r
		ds = append(ds, parseChecks(r, opts)...) // found by Parse, in Istio's order
	}
	if len(ds.Errors()) > 0 {
		return nil, ds
	}

	s := Empty()
	ix := newIndexer(s)
	var entries []*Entry
	// hostsAt[i] is where entries[i] lists its hosts: all that indexing
	// needs of a ServiceEntry's Resource, so that the Resources (a fifth
	// of a large load's memory) can be collected while the index grows.
	var hostsAt []fieldPos
	var drs, vss []*Resource
	in := newInterner()
	for _, r := range res {
		if r.Entry != nil {
			entries = append(entries, in.entry(r.Entry))
			r.Metadata.Labels, r.Metadata.Annotations = r.Entry.Labels, r.Entry.Annotations
			hostsAt = append(hostsAt, r.position("spec.hosts"))
		} else if r.VirtualService != nil {
			vss = append(vss, r)
		} else if r.DestinationRule != nil {
			drs = append(drs, r)
			s.DestinationRules = append(s.DestinationRules, DRSummary{r.Metadata.Name, r.Metadata.Namespace, r.DestinationRule.Host, r.Source})
		}
	}
	s.Entries = entries
	hosts := 0
	for _, e := range entries {
		hosts += len(e.Hosts)
	}
	s.exact = make(map[string]*hostRecord, hosts) // grown once, not by doubling
	b := &builder{opts: opts, drs: newDRIndex(drs), tlsCache: map[*ClientTLSSettings]*TLSOrigination{}, used: map[*Resource]bool{}}
	var cur int // the entry being indexed
	warn := func(format string, a ...any) {
		ds = append(ds, entryDiag(entries[cur], hostsAt[cur], SevWarning, format, a...))
	}
	routeFor := func(e *Entry, host string, p Port) *Route {
		r := &Route{Entry: e, Host: host, Port: p}
		dr := b.destinationRule(e, host, &ds)
		if dr != nil {
			r.DestinationRule = dr.Metadata.Namespace + "/" + dr.Metadata.Name
			r.TLS = b.tlsFor(dr, p.Number, &ds)
			r.Traffic, r.Cluster = b.trafficFor(dr, e, p.Number)
		}
		b.virtualService(r, vss, dr, &ds)
		return r
	}
	for i, e := range entries {
		cur = i
		for _, h := range e.Hosts {
			ix.index(e, h, routeFor, warn)
		}
		ix.indexAddresses(e, routeFor, warn)
	}
	ix.finish()
	for _, vs := range vss {
		switch {
		case b.used[vs] || len(vs.VirtualService.Hosts) == 0:
		case !appliesToGateway(vs.VirtualService, vs.Metadata.Namespace, opts.Gateways):
			ds = append(ds, vs.diag(SevWarning, "spec.gateways", "not applied by sluice: %s has no effect on calls through the gateway",
				"a VirtualService bound to gateways other than mesh and registry.gateways"))
		default:
			ds = append(ds, vs.diag(SevWarning, "spec.hosts", "no ServiceEntry declares hosts %s with a port it routes (HTTP for http rules, TLS or TCP for tls and tcp rules); this VirtualService has no effect in sluice", strings.Join(vs.VirtualService.Hosts, ", ")))
		}
	}
	for _, dr := range drs {
		if d, ok := b.workloadSelectorFinding(dr); ok {
			ds = append(ds, d)
			if !b.selectsGateway(dr) {
				continue // not "no ServiceEntry declares": it is not ours
			}
		}
		if !b.used[dr] {
			ds = append(ds, dr.diag(SevWarning, "spec.host", "no ServiceEntry declares host %s; this DestinationRule has no effect in sluice", dr.DestinationRule.Host))
		}
	}
	if len(ds.Errors()) > 0 {
		return nil, ds
	}
	s.Warnings = ds.Warnings()
	s.LoadedAt = time.Now()
	return s, ds
}

// newEntry makes the gateway's form of a ServiceEntry from its spec,
// sharing the spec's strings and slices where it can (the spec is dropped
// once the entry is made).
func newEntry(r *Resource) *Entry {
	se := r.parsing.se
	e := &Entry{
		Name: r.Metadata.Name, Namespace: r.Metadata.Namespace,
		Addresses: se.Addresses, Location: strings.ToUpper(se.Location), Resolution: normResolution(se.Resolution),
		Labels: r.Metadata.Labels, Annotations: r.Metadata.Annotations, SubjectAltNames: se.SubjectAltNames, Source: r.Source,
	}
	if e.Location == "" {
		e.Location = "MESH_EXTERNAL"
	}
	e.Hosts = se.Hosts // the spec is dropped, its hosts are kept
	copied := false
	for i, h := range se.Hosts {
		if n := NormalizeHost(h); n != h {
			if !copied {
				e.Hosts, copied = slices.Clone(se.Hosts), true
			}
			e.Hosts[i] = n
		}
	}
	// A null port or endpoint (an error, "may not be null") is left out.
	if len(se.Ports) > 0 {
		e.Ports = make([]Port, 0, len(se.Ports))
		for _, p := range se.Ports {
			if p == nil {
				continue
			}
			proto, _ := ParseProtocol(p.Protocol)
			e.Ports = append(e.Ports, Port{Number: p.Number, Name: p.Name, Protocol: proto, TargetPort: p.TargetPort})
		}
	}
	if len(se.Endpoints) > 0 {
		e.Endpoints = make([]Endpoint, 0, len(se.Endpoints))
		for _, ep := range se.Endpoints {
			if ep == nil {
				continue
			}
			x := Endpoint{Address: ep.Address, Ports: ep.Ports, Labels: ep.Labels, Weight: ep.Weight}
			if ip, err := netip.ParseAddr(ep.Address); err == nil {
				x.IP = ip.Unmap()
			}
			e.Endpoints = append(e.Endpoints, x)
		}
	}
	for _, a := range se.Addresses {
		if p, err := netip.ParsePrefix(a); err == nil {
			e.prefixes = append(e.prefixes, p.Masked())
		} else if ip, err := netip.ParseAddr(a); err == nil {
			ip = ip.Unmap()
			e.prefixes = append(e.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
		}
	}
	return e
}

// entryDiag is Resource.diag for the ServiceEntry e was made from, at
// the field noted in p.
func entryDiag(e *Entry, p fieldPos, sev Severity, format string, a ...any) Diagnostic {
	return Diagnostic{Severity: sev, File: e.Source.File, Line: int(p.line), Column: int(p.col), Doc: e.Source.Doc,
		Kind: KindServiceEntry, Namespace: e.Namespace, Name: e.Name, Field: p.field, Msg: fmt.Sprintf(format, a...)}
}

// resourceKey identifies a resource as ID does, without making a string.
type resourceKey struct{ kind, namespace, name string }

type builder struct {
	opts     BuildOptions
	drs      *drIndex
	tlsCache map[*ClientTLSSettings]*TLSOrigination
	used     map[*Resource]bool
}

// SortedHosts lists every declared host pattern, for summaries.
func (s *Snapshot) SortedHosts() []string {
	var hs []string
	for h := range s.exact {
		hs = append(hs, h)
	}
	for _, r := range s.wild {
		hs = append(hs, r.pattern)
	}
	for _, r := range s.partial {
		hs = append(hs, r.pattern)
	}
	sort.Strings(hs)
	return hs
}
