package audit

import (
	"strconv"

	"github.com/sluicehq/sluice/internal/canon"
)

// Search keys: what a store's search summary (audit/sqlite's
// search_blocks) records of each record so that a search can skip the
// parts of the store that cannot hold a match of a Filter's fields
// (docs/contract.md §8: a query over 10 million records stays
// interactive), without an index per field (each costs every write). Written
// once, here, for the record (SearchKeys) and the filter
// (Filter.SearchKeys): a record matches the filter only if every key of
// the filter is among the record's.
//
// A key is a 64-bit hash of a field's name and value:
//
//   - service_entry, status, reason, event, decision: the value;
//   - host: its canonical form (internal/canon), else the value as
//     recorded, so that every spelling a Filter.Host selects (Hosts) has
//     the same key;
//   - source: one key for each of source_identity, source_workload and
//     source_ip that is set, all under the one field a Filter.Source
//     looks in (any of the three);
//   - path: every prefix of the path up to SearchPathPrefix bytes (a
//     filter's path prefix is one of them, or longer: then its first
//     SearchPathPrefix bytes);
//   - every pair of service_entry, status, reason, event, decision, host
//     and a source, so that a combination of values that are each
//     common but rarely or never occur together (a workload's denials, a
//     ServiceEntry that is never denied) rules most blocks out too.
//
// Id and time_start have indexes and no keys.

// SearchPathPrefix is how many bytes of a path its keys cover.
const SearchPathPrefix = 64

// The fields with keys, in the order of their bit in a key set.
const (
	skService = iota
	skStatus
	skReason
	skEvent
	skDecision
	skHost
	skOne    // the fields above have one value a record
	skSource = skOne
	skPath   = skSource + 1 // the fields up to here pair with each other
)

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// keyHash is the key of field f with value v.
func keyHash(f int, v string) uint64 {
	h := uint64(fnvOffset) ^ uint64(f+1)
	h *= fnvPrime
	for i := 0; i < len(v); i++ {
		h ^= uint64(v[i])
		h *= fnvPrime
	}
	return mix64(h)
}

// mix64 is MurmurHash3's finalizer: every bit of h moves every bit of
// the result.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb53fe63e9a85
	h ^= h >> 33
	return h
}

// pairHash is the key of the pair of two keys (of different fields, in
// field order).
func pairHash(a, b uint64) uint64 { return mix64(a ^ (b * 0x9e3779b97f4a7c15) ^ 0x5bd1e995) }

// appendPathKeys appends the keys of path: one per prefix, up to
// SearchPathPrefix bytes.
func appendPathKeys(keys []uint64, path string) []uint64 {
	h := uint64(fnvOffset) ^ uint64(skPath+1)
	h *= fnvPrime
	for i := 0; i < len(path) && i < SearchPathPrefix; i++ {
		h ^= uint64(path[i])
		h *= fnvPrime
		keys = append(keys, mix64(h))
	}
	return keys
}

// statusText is the status as a key's value.
func statusText(s int) string {
	if s >= 0 && s < 1000 {
		return statusTexts[s]
	}
	return strconv.Itoa(s)
}

var statusTexts = func() (t [1000]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

// searchHost is the host as a key's value: its canonical form when it
// parses, else as recorded (Filter.Hosts: both spellings select the
// same records).
func searchHost(h string) string {
	if c, err := canon.ParseHost(h); err == nil {
		return c.String()
	}
	return h
}

// oneKeys are the keys of r's fields with one value (status: as given).
func oneKeys(r *Record, status int) (k [skOne]uint64) {
	k[skService] = keyHash(skService, r.ServiceEntry)
	k[skStatus] = keyHash(skStatus, statusText(status))
	k[skReason] = keyHash(skReason, r.Reason)
	k[skEvent] = keyHash(skEvent, r.Event)
	k[skDecision] = keyHash(skDecision, r.Decision)
	k[skHost] = keyHash(skHost, searchHost(r.Host))
	return k
}

// sourceKeys are the keys of r's source fields that are set, each once.
func sourceKeys(r *Record) (k [3]uint64, n int) {
	for _, v := range [3]string{r.SourceIdentity, r.SourceWorkload, r.SourceIP} {
		if v == "" {
			continue
		}
		h := keyHash(skSource, v)
		if n > 0 && k[0] == h || n > 1 && k[1] == h {
			continue
		}
		k[n], n = h, n+1
	}
	return k, n
}

// SearchKeys appends the search keys of r to keys; open: r is an open
// call's decision part, which a store shows with the zero value in the
// outcome's columns (status 0).
func SearchKeys(keys []uint64, r *Record, open bool) []uint64 {
	status := r.Status
	if open {
		status = 0
	}
	k := oneKeys(r, status)
	keys = append(keys, k[:]...)
	for i := range k {
		for j := i + 1; j < len(k); j++ {
			keys = append(keys, pairHash(k[i], k[j]))
		}
	}
	src, n := sourceKeys(r)
	for _, s := range src[:n] {
		keys = append(keys, s)
		for i := range k {
			keys = append(keys, pairHash(k[i], s))
		}
	}
	return appendPathKeys(keys, r.Path)
}

// changes reports whether field i is one an outcome can change.
func changes(i int) bool { return i == skStatus || i == skReason }

// SearchOutcomeKeys appends to keys those of r's search keys that its
// outcome can change (status, reason, and their pairs): what completing
// an open call, whose decision part's keys are already kept, adds.
// Event, decision, service_entry, host, the sources and path are the
// decision's alone (audit.PartDecision).
func SearchOutcomeKeys(keys []uint64, r *Record) []uint64 {
	k := oneKeys(r, r.Status)
	keys = append(keys, k[skStatus], k[skReason])
	for i := range k {
		for j := i + 1; j < len(k); j++ {
			if changes(i) || changes(j) {
				keys = append(keys, pairHash(k[i], k[j]))
			}
		}
	}
	src, n := sourceKeys(r)
	for _, s := range src[:n] {
		keys = append(keys, pairHash(k[skStatus], s), pairHash(k[skReason], s))
	}
	return keys
}

// SearchKeys returns the keys every record f selects has (see
// SearchKeys): none when f has no field with keys.
func (f *Filter) SearchKeys() []uint64 {
	var keys []uint64
	var k [skPath]uint64
	var set [skPath]bool
	add := func(field int, v string) {
		k[field], set[field] = keyHash(field, v), true
		keys = append(keys, k[field])
	}
	if f.ServiceEntry != "" {
		add(skService, f.ServiceEntry)
	}
	if f.Status != 0 {
		add(skStatus, statusText(f.Status))
	}
	if f.Reason != "" {
		add(skReason, f.Reason)
	}
	if f.Event != "" {
		add(skEvent, f.Event)
	}
	if f.Decision != "" {
		add(skDecision, f.Decision)
	}
	if f.Host != "" {
		add(skHost, searchHost(f.Host))
	}
	if f.Source != "" {
		add(skSource, f.Source)
	}
	for i := range k {
		for j := i + 1; j < len(k); j++ {
			if set[i] && set[j] {
				keys = append(keys, pairHash(k[i], k[j]))
			}
		}
	}
	if f.Path != "" {
		p := f.Path
		if len(p) > SearchPathPrefix {
			p = p[:SearchPathPrefix]
		}
		keys = append(keys, appendPathKeys(nil, p)[len(p)-1])
	}
	return keys
}
