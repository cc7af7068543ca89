package registry

import (
	"net/netip"
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
