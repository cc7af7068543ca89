// Package sources maps caller addresses to workload names with the
// identity.sources CIDR list (docs/contract.md §3). The egress listeners and
// the DNS proxy share it, so a call and a DNS query from the same pod name
// the same workload in their audit records.
package sources

import (
	"net/netip"
	"slices"

	"github.com/sluicehq/sluice/internal/config"
)

// Map is an immutable CIDR → workload list, most specific prefix first.
// The zero Map (and nil) knows no workload.
type Map struct {
	entries []entry
}

type entry struct {
	prefix   netip.Prefix
	workload string
}

// New builds a Map from identity.sources. Entries whose CIDR does not
// parse are skipped: config validation has already reported them.
func New(list []config.Source) *Map {
	m := &Map{}
	for _, s := range list {
		if p, err := config.ParsePrefix(s.CIDR); err == nil {
			m.entries = append(m.entries, entry{p.Masked(), s.Workload})
		}
	}
	// Most specific first; the config order breaks ties.
	slices.SortStableFunc(m.entries, func(a, b entry) int { return b.prefix.Bits() - a.prefix.Bits() })
	return m
}

// Workload returns the workload of the most specific CIDR holding ip, or
// "" when none does. IPv4-mapped IPv6 addresses match IPv4 CIDRs.
func (m *Map) Workload(ip netip.Addr) string {
	if m == nil {
		return ""
	}
	ip = ip.Unmap()
	for _, e := range m.entries {
		if e.prefix.Contains(ip) {
			return e.workload
		}
	}
	return ""
}

// Len is the number of CIDRs.
func (m *Map) Len() int {
	if m == nil {
		return 0
	}
	return len(m.entries)
}
