package audit

import (
	"net/netip"
	"strconv"
)

// Search keys: what a store's search summary (audit/sqlite's
// search_blocks) records of each record so that a search can skip the
// parts of the store that cannot hold a match of a Filter's fields
// without an index of their own (docs/contract.md §8: a query over 10
// million records stays interactive). Written once, here, for the
// record (SearchKeys) and the filter (Filter.SearchKeys): a record
// matches the filter only if every key of the filter is among the
// record's.
//
// A key is a 64-bit hash of a field's name and value:
//
//   - service_entry, status, reason, event, decision, source_ip: the
//     value;
//   - path: every prefix of the path up to SearchPathPrefix bytes (a
//     filter's path prefix is one of them, or longer: then its first
//     SearchPathPrefix bytes);
//   - every pair of service_entry, status, reason, event and decision,
//     so that a combination of values that are each common but never
//     occur together (a ServiceEntry that is never denied) is skipped
//     too.
//
// Host, source_identity, source_workload, id and time_start have indexes
// and no keys.

// SearchPathPrefix is how many bytes of a path its keys cover.
const SearchPathPrefix = 64

// The fields with keys, in the order of their bit in a key set.
const (
	skService = iota
	skStatus
	skReason
	skEvent
	skDecision
	skPaired   // the fields above pair with each other
	skSourceIP = skPaired
	skPath     = skPaired + 1
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

// SearchKeys appends the search keys of r to keys; open: r is an open
// call's decision part, which a store shows with the zero value in the
// outcome's columns (status 0).
func SearchKeys(keys []uint64, r *Record, open bool) []uint64 {
	status := r.Status
	if open {
		status = 0
	}
	var k [skPaired]uint64
	k[skService] = keyHash(skService, r.ServiceEntry)
	k[skStatus] = keyHash(skStatus, statusText(status))
	k[skReason] = keyHash(skReason, r.Reason)
	k[skEvent] = keyHash(skEvent, r.Event)
	k[skDecision] = keyHash(skDecision, r.Decision)
	keys = append(keys, k[:]...)
	for i := range k {
		for j := i + 1; j < len(k); j++ {
			keys = append(keys, pairHash(k[i], k[j]))
		}
	}
	keys = append(keys, keyHash(skSourceIP, r.SourceIP))
	return appendPathKeys(keys, r.Path)
}

// SearchOutcomeKeys appends to keys those of r's search keys that its
// outcome can change (status, reason, and their pairs): what completing
// an open call, whose decision part's keys are already kept, adds.
// Event, decision, service_entry, source_ip and path are the decision's
// alone (audit.PartDecision).
func SearchOutcomeKeys(keys []uint64, r *Record) []uint64 {
	var k [skPaired]uint64
	k[skService] = keyHash(skService, r.ServiceEntry)
	k[skStatus] = keyHash(skStatus, statusText(r.Status))
	k[skReason] = keyHash(skReason, r.Reason)
	k[skEvent] = keyHash(skEvent, r.Event)
	k[skDecision] = keyHash(skDecision, r.Decision)
	keys = append(keys, k[skStatus], k[skReason])
	for i := range k {
		for j := i + 1; j < len(k); j++ {
			if i == skStatus || i == skReason || j == skStatus || j == skReason {
				keys = append(keys, pairHash(k[i], k[j]))
			}
		}
	}
	return keys
}

// SearchKeys returns the keys every record f selects has (see
// SearchKeys): none when f has no field with keys. f.Source gives one
// when it is an IP (source_ip); as a workload or identity it has an
// index.
func (f *Filter) SearchKeys() []uint64 {
	var keys []uint64
	var k [skPaired]uint64
	var set [skPaired]bool
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
	for i := range k {
		for j := i + 1; j < len(k); j++ {
			if set[i] && set[j] {
				keys = append(keys, pairHash(k[i], k[j]))
			}
		}
	}
	if f.Source != "" {
		if _, err := netip.ParseAddr(f.Source); err == nil {
			keys = append(keys, keyHash(skSourceIP, f.Source))
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
