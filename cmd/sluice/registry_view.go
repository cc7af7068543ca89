package main

import (
	"sort"

	"github.com/sluicehq/sluice/internal/canon"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/registry/kube"
)

// registryViewJSON is the body of GET /v1/registry: the declared
// destinations and the last reload's result.
type registryViewJSON struct {
	Generation   uint64                `json:"generation"`
	LoadedAt     string                `json:"loaded_at"`
	Files        []string              `json:"files"`
	LastReload   registry.ReloadStatus `json:"last_reload"`
	Destinations []destinationView     `json:"destinations"`
	Rules        []registry.DRSummary  `json:"destination_rules"`
	Warnings     registry.Diagnostics  `json:"warnings,omitempty"`
	// Kubernetes is the registry.kubernetes source: sync, the objects
	// watched, and those skipped with their errors (absent when off).
	Kubernetes *kube.Status `json:"kubernetes,omitempty"`
}

type destinationView struct {
	ServiceEntry string            `json:"service_entry"`
	Hosts        []string          `json:"hosts"`
	Addresses    []string          `json:"addresses,omitempty"`
	Resolution   string            `json:"resolution"`
	Location     string            `json:"location"`
	Endpoints    []string          `json:"endpoints,omitempty"`
	Ports        []portView        `json:"ports"`
	Labels       map[string]string `json:"labels,omitempty"`
	Source       registry.Source   `json:"source"`
}

type portView struct {
	Number          int                      `json:"number"`
	Name            string                   `json:"name"`
	Protocol        string                   `json:"protocol"`
	DialPort        int                      `json:"dial_port"`
	TLSOrigination  *registry.TLSOrigination `json:"tls_origination,omitempty"`
	DestinationRule string                   `json:"destination_rule,omitempty"`
}

func registryView(r *registry.Registry, src *kube.Source) registryViewJSON {
	s := r.Snapshot()
	v := registryViewJSON{Generation: s.Generation, Files: s.Files, LastReload: r.Status(), Rules: s.DestinationRules, Warnings: s.Warnings}
	if src != nil {
		st := src.Status()
		v.Kubernetes = &st
	}
	if !s.LoadedAt.IsZero() {
		v.LoadedAt = s.LoadedAt.UTC().Format("2006-01-02T15:04:05Z07:00")
	}
	for _, e := range s.Entries {
		d := destinationView{ServiceEntry: e.ID(), Hosts: e.Hosts, Addresses: e.Addresses, Resolution: e.Resolution,
			Location: e.Location, Labels: e.Labels, Source: e.Source}
		for _, ep := range e.Endpoints {
			d.Endpoints = append(d.Endpoints, ep.Address)
		}
		for _, p := range e.Ports {
			pv := portView{Number: p.Number, Name: p.Name, Protocol: string(p.Protocol), DialPort: p.DialPort()}
			if len(e.Hosts) > 0 {
				if rt, res := s.Lookup(lookupName(e.Hosts[0]), p.Number); res == registry.Declared && rt.Entry == e {
					pv.TLSOrigination, pv.DestinationRule = rt.TLS, rt.DestinationRule
				}
			}
			d.Ports = append(d.Ports, pv)
		}
		v.Destinations = append(v.Destinations, d)
	}
	sort.Slice(v.Destinations, func(i, j int) bool { return v.Destinations[i].ServiceEntry < v.Destinations[j].ServiceEntry })
	if v.Destinations == nil {
		v.Destinations = []destinationView{}
	}
	return v
}

// lookupName turns a declared host into a canonical name that matches it
// ("*.a.b" becomes "x.a.b"); the zero Host matches nothing.
func lookupName(h string) canon.Host {
	if registry.IsWildcard(h) {
		h = "x" + h[1:]
	}
	name, _ := canon.ParseHost(h)
	return name
}
