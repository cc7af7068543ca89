package registry

import (
	"net/netip"
	"strings"

	"github.com/sluicehq/sluice/internal/canon"
)

// Result says how a (host, port) lookup ended.
type Result int

// Lookup results. The data plane maps them to reason codes; the registry
// knows nothing of reasons.
const (
	Declared Result = iota
	UndeclaredPort
	UndeclaredDestination
)

// String names the result, for messages.
func (r Result) String() string {
	switch r {
	case Declared:
		return "declared"
	case UndeclaredPort:
		return "port not declared"
	}
	return "host not declared"
}

// Lookup finds the route for a call to host:port. host is the canonical
// destination the edge parsed (package canon); the registry never
// re-normalises it, so what it matches is exactly what policy sees and
// the record shows. Exact names beat wildcards and the most specific
// wildcard wins, among the patterns that declare port; IP literals match
// only ServiceEntry addresses, never names.
func (s *Snapshot) Lookup(host canon.Host, port int) (*Route, Result) {
	if ip, ok := host.Addr(); ok {
		return s.lookupIP(ip, port)
	}
	h := host.String()
	matched := false
	if rec := s.exact[h]; rec != nil {
		if r := rec.routes[port]; r != nil {
			return r, Declared
		}
		matched = true
	}
	var best *Route
	bestLen := -1
	// Wildcards, most specific (longest suffix) first.
	for i := 0; i < len(h); i++ {
		if h[i] != '.' {
			continue
		}
		if rec := s.wild[h[i:]]; rec != nil {
			if r := rec.routes[port]; r != nil {
				best, bestLen = r, len(h)-i
				break
			}
			matched = true
		}
	}
	for _, rec := range s.partial {
		if len(h) > len(rec.suffix) && strings.HasSuffix(h, rec.suffix) && len(rec.suffix) > bestLen {
			if r := rec.routes[port]; r != nil {
				best, bestLen = r, len(rec.suffix)
			} else {
				matched = true
			}
		}
	}
	if best != nil {
		return best, Declared
	}
	if matched {
		return nil, UndeclaredPort
	}
	return nil, UndeclaredDestination
}

func (s *Snapshot) lookupIP(ip netip.Addr, port int) (*Route, Result) {
	matched := false
	if rec := s.ips[ip]; rec != nil {
		if r := rec.routes[port]; r != nil {
			return r, Declared
		}
		matched = true
	}
	for _, c := range s.cidrs {
		if c.prefix.Contains(ip) {
			if r := c.rec.routes[port]; r != nil {
				return r, Declared
			}
			matched = true
		}
	}
	if matched {
		return nil, UndeclaredPort
	}
	return nil, UndeclaredDestination
}

// HostMatch is what the registry declares for a name, whatever the port:
// the DNS proxy answers for it.
type HostMatch struct {
	// Pattern is the declared host that matched.
	Pattern string
	// Entries declare the pattern (usually one).
	Entries []*Entry
}

// MatchHost finds the most specific declared pattern for a canonical
// name, ignoring ports (exact first, then the longest wildcard). IP
// literals match nothing.
func (s *Snapshot) MatchHost(name canon.Host) (HostMatch, bool) {
	if name.IsIP() {
		return HostMatch{}, false
	}
	h := name.String()
	if rec := s.exact[h]; rec != nil {
		return HostMatch{rec.pattern, rec.entries}, true
	}
	var best *hostRecord
	for i := 0; i < len(h); i++ {
		if h[i] == '.' {
			if rec := s.wild[h[i:]]; rec != nil {
				best = rec
				break
			}
		}
	}
	for _, rec := range s.partial {
		if len(h) > len(rec.suffix) && strings.HasSuffix(h, rec.suffix) && (best == nil || len(rec.suffix) > len(best.suffix)) {
			best = rec
		}
	}
	if best == nil {
		return HostMatch{}, false
	}
	return HostMatch{best.pattern, best.entries}, true
}
