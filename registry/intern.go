package registry

import (
	"hash/maphash"
	"maps"
)

// interner shares what repeats among the entries of one snapshot. YAML
// decoding allocates every scalar and every mapping afresh, so without it
// a registry of 100,000 entries holds 100,000 copies of "MESH_EXTERNAL",
// of each namespace and port name, and of each team's identical labels
// and annotations — a small map costs about 300 bytes. It lives for one
// Build; nothing writes to an entry once it is built, so sharing is safe.
type interner struct {
	strs  map[string]string
	maps  map[uint64][]map[string]string // by content hash
	empty map[string]string
	seed  maphash.Seed
	cache *[stringCacheSize]string
}

// stringCacheSize is how many recent strings bytes remembers.
const stringCacheSize = 1024

func newInterner() *interner {
	return &interner{strs: map[string]string{}, maps: map[uint64][]map[string]string{}, empty: map[string]string{}, seed: maphash.MakeSeed()}
}

// entry shares e's repeated strings and maps with earlier entries.
func (in *interner) entry(e *Entry) *Entry {
	e.Namespace, e.Location, e.Resolution = in.str(e.Namespace), in.str(e.Location), in.str(e.Resolution)
	for i := range e.Ports {
		e.Ports[i].Name = in.str(e.Ports[i].Name)
	}
	e.Labels, e.Annotations = in.stringMap(e.Labels), in.stringMap(e.Annotations)
	return e
}

// bytes returns b as a string, the same string as for an equal b
// recently: values that repeat from one document to the next (port
// names, protocols, namespaces, label keys) are made once, at the cost of
// a hash for each. A value that is seldom repeated only takes the slot of
// another, so that memory stays bounded.
func (in *interner) bytes(b []byte) string {
	if in.cache == nil {
		in.cache = new([stringCacheSize]string)
	}
	slot := &in.cache[maphash.Bytes(in.seed, b)%stringCacheSize]
	if *slot != string(b) {
		*slot = string(b)
	}
	return *slot
}

// str returns the first string equal to s that it was given.
func (in *interner) str(s string) string {
	if v, ok := in.strs[s]; ok {
		return v
	}
	in.strs[s] = s
	return s
}

// stringMap returns the first map equal to m that it was given; every
// empty (or absent) map becomes one empty map, since the policy input
// wants a map, not null, for every entry.
func (in *interner) stringMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return in.empty
	}
	h := in.hash(m)
	for _, v := range in.maps[h] {
		if maps.Equal(v, m) {
			return v
		}
	}
	in.maps[h] = append(in.maps[h], m)
	return m
}

// hash hashes m's content: every key with its value, added up so that
// the order maps are iterated in does not matter and no sorting is
// needed. Equal hashes are compared whole (stringMap), so a collision
// costs a comparison, never a wrong map.
func (in *interner) hash(m map[string]string) uint64 {
	var sum uint64
	for k, v := range m {
		h := maphash.String(in.seed, k)*0x9e3779b97f4a7c15 ^ maphash.String(in.seed, v)
		sum += h ^ h>>29
	}
	return sum
}
