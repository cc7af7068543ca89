package registry

import (
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Snapshot is one immutable, validated set of resources and its index.
// The gateway holds a pointer to the current snapshot; a reload builds a
// new one and swaps it in, so a call in flight keeps the set it started
// with.
type Snapshot struct {
	Entries          []*Entry    `json:"entries"`
	DestinationRules []DRSummary `json:"destinationRules"`
	Warnings         Diagnostics `json:"warnings,omitempty"`
	Files            []string    `json:"files"`
	LoadedAt         time.Time   `json:"loadedAt"`
	Generation       uint64      `json:"generation"`
	Skipped          int         `json:"skippedObjects"`

	exact   map[string]*hostRecord
	wild    map[string]*hostRecord // key: the pattern without its "*", e.g. ".example.com"
	partial []*hostRecord          // "*foo.com" style (Istio warns, still matches by suffix)
	ips     map[netip.Addr]*hostRecord
	cidrs   []cidrRecord // longest prefix first
}

// DRSummary describes a DestinationRule for listings.
type DRSummary struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Host      string `json:"host"`
	Source    Source `json:"source"`
}

// hostRecord is everything declared for one host pattern or address.
type hostRecord struct {
	pattern string
	suffix  string         // for wildcards: what the name must end with
	routes  map[int]*Route // by declared port number
	entries []*Entry
}

type cidrRecord struct {
	prefix netip.Prefix
	rec    *hostRecord
}

// Empty returns a snapshot with nothing declared.
func Empty() *Snapshot {
	return &Snapshot{exact: map[string]*hostRecord{}, wild: map[string]*hostRecord{}, ips: map[netip.Addr]*hostRecord{}}
}

// index adds the routes of e for host pattern h.
func (s *Snapshot) index(e *Entry, h string, routeFor func(e *Entry, host string, p Port) *Route, warn func(string, ...any)) {
	var rec *hostRecord
	switch {
	case !IsWildcard(h):
		rec = s.exact[h]
		if rec == nil {
			rec = &hostRecord{pattern: h, routes: map[int]*Route{}}
			s.exact[h] = rec
		}
	case strings.HasPrefix(h, "*."):
		rec = s.wild[h[1:]]
		if rec == nil {
			rec = &hostRecord{pattern: h, suffix: h[1:], routes: map[int]*Route{}}
			s.wild[h[1:]] = rec
		}
	default:
		for _, r := range s.partial {
			if r.pattern == h {
				rec = r
			}
		}
		if rec == nil {
			rec = &hostRecord{pattern: h, suffix: h[1:], routes: map[int]*Route{}}
			s.partial = append(s.partial, rec)
		}
	}
	s.addRoutes(rec, e, h, routeFor, warn)
}

func (s *Snapshot) addRoutes(rec *hostRecord, e *Entry, h string, routeFor func(*Entry, string, Port) *Route, warn func(string, ...any)) {
	rec.entries = append(rec.entries, e)
	for _, p := range e.Ports {
		if prev, ok := rec.routes[p.Number]; ok {
			warn("host %s port %d is also declared by ServiceEntry %s (%s doc %d), which wins",
				h, p.Number, prev.Entry.ID(), prev.Entry.Source.File, prev.Entry.Source.Doc)
			continue
		}
		rec.routes[p.Number] = routeFor(e, h, p)
	}
}

func (s *Snapshot) indexAddresses(e *Entry, routeFor func(*Entry, string, Port) *Route, warn func(string, ...any)) {
	for _, pfx := range e.prefixes {
		if pfx.IsSingleIP() {
			rec := s.ips[pfx.Addr()]
			if rec == nil {
				rec = &hostRecord{pattern: pfx.Addr().String(), routes: map[int]*Route{}}
				s.ips[pfx.Addr()] = rec
			}
			s.addRoutes(rec, e, rec.pattern, routeFor, warn)
			continue
		}
		var rec *hostRecord
		for _, c := range s.cidrs {
			if c.prefix == pfx {
				rec = c.rec
			}
		}
		if rec == nil {
			rec = &hostRecord{pattern: pfx.String(), routes: map[int]*Route{}}
			s.cidrs = append(s.cidrs, cidrRecord{pfx, rec})
		}
		s.addRoutes(rec, e, rec.pattern, routeFor, warn)
	}
	sort.SliceStable(s.cidrs, func(i, j int) bool { return s.cidrs[i].prefix.Bits() > s.cidrs[j].prefix.Bits() })
}
