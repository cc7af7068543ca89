package dnsproxy

import (
	"net/netip"
	"sync"
	"time"
)

// cacheKey identifies one cached lookup: a lower-case FQDN and a type.
type cacheKey struct {
	name  string
	qtype uint16
}

// lookupResult is what an upstream said about one (name, type): the
// addresses (before the forbidden-address check, which runs on every
// use) or a negative answer.
type lookupResult struct {
	addrs    []netip.Addr // shared, never modified after creation
	negative bool         // NXDOMAIN or NODATA
	expires  time.Time
}

// ttl is the time left before r expires, at least zero.
func (r lookupResult) ttl(now time.Time) time.Duration {
	if d := r.expires.Sub(now); d > 0 {
		return d
	}
	return 0
}

// cache is a bounded TTL cache of lookup results. When full it first
// drops expired entries, then about a tenth of the entries at random (Go
// map order), which keeps inserts cheap on average without an LRU list.
type cache struct {
	mu   sync.Mutex
	m    map[cacheKey]lookupResult
	size int
}

func newCache(size int) *cache {
	return &cache{m: make(map[cacheKey]lookupResult), size: size}
}

// get returns the unexpired result for k.
func (c *cache) get(k cacheKey, now time.Time) (lookupResult, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[k]
	if !ok {
		return lookupResult{}, false
	}
	if !now.Before(r.expires) {
		delete(c.m, k)
		return lookupResult{}, false
	}
	return r, true
}

// put stores r under k, evicting when the cache is full.
func (c *cache) put(k cacheKey, r lookupResult, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, exists := c.m[k]; !exists && len(c.m) >= c.size {
		for key, v := range c.m {
			if !now.Before(v.expires) {
				delete(c.m, key)
			}
		}
		if len(c.m) >= c.size {
			drop := c.size/10 + 1
			for key := range c.m {
				if drop == 0 {
					break
				}
				delete(c.m, key)
				drop--
			}
		}
	}
	c.m[k] = r
}

// len returns the number of entries (expired ones included).
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// flush empties the cache.
func (c *cache) flush() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}
