package registry

import (
	"net/netip"
	"sort"
	"strings"
)

// indexer fills a snapshot's index while Build runs. Its maps find the
// record of a partial wildcard or a CIDR in constant time, and the CIDRs
// are sorted once at the end, so indexing stays linear in the number of
// entries.
type indexer struct {
	s       *Snapshot
	partial map[string]*hostRecord
	cidrs   map[netip.Prefix]*hostRecord
}

// routeFunc makes the route of entry e for declared host and port p.
type routeFunc func(e *Entry, host string, p Port) *Route

// warnFunc reports a warning about the entry being indexed.
type warnFunc func(format string, a ...any)

func newIndexer(s *Snapshot) *indexer {
	return &indexer{s: s, partial: map[string]*hostRecord{}, cidrs: map[netip.Prefix]*hostRecord{}}
}

// index adds the routes of e for host pattern h.
func (ix *indexer) index(e *Entry, h string, routeFor routeFunc, warn warnFunc) {
	s := ix.s
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
		rec = ix.partial[h]
		if rec == nil {
			rec = &hostRecord{pattern: h, suffix: h[1:], routes: map[int]*Route{}}
			ix.partial[h] = rec
			s.partial = append(s.partial, rec)
		}
	}
	addRoutes(rec, e, h, routeFor, warn)
}

// indexAddresses adds the routes of e for its addresses: IPs by address,
// CIDRs by prefix.
func (ix *indexer) indexAddresses(e *Entry, routeFor routeFunc, warn warnFunc) {
	s := ix.s
	for _, pfx := range e.prefixes {
		if pfx.IsSingleIP() {
			rec := s.ips[pfx.Addr()]
			if rec == nil {
				rec = &hostRecord{pattern: pfx.Addr().String(), routes: map[int]*Route{}}
				s.ips[pfx.Addr()] = rec
			}
			addRoutes(rec, e, rec.pattern, routeFor, warn)
			continue
		}
		rec := ix.cidrs[pfx]
		if rec == nil {
			rec = &hostRecord{pattern: pfx.String(), routes: map[int]*Route{}}
			ix.cidrs[pfx] = rec
			s.cidrs = append(s.cidrs, cidrRecord{pfx, rec})
		}
		addRoutes(rec, e, rec.pattern, routeFor, warn)
	}
}

// finish orders the CIDRs longest prefix first (ties in load order), as
// lookups want them.
func (ix *indexer) finish() {
	cs := ix.s.cidrs
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].prefix.Bits() > cs[j].prefix.Bits() })
}

// addRoutes declares e's ports on rec; a port already declared there by an
// earlier entry stays with it, with a warning.
func addRoutes(rec *hostRecord, e *Entry, h string, routeFor routeFunc, warn warnFunc) {
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
