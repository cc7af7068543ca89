package lb

import (
	"sort"
	"sync"
	"time"
)

// Table holds the clusters of the gateway by name (one per route and
// subset with a traffic policy). A cluster survives a registry reload
// when its policy is unchanged, so ejections and pool state carry over;
// a changed policy starts afresh.
type Table struct {
	now func() time.Time
	mu  sync.RWMutex
	cls map[string]*Cluster
}

// NewTable makes an empty table; now is the clock (nil: time.Now).
func NewTable(now func() time.Time) *Table {
	return &Table{now: now, cls: map[string]*Cluster{}}
}

// Cluster returns the cluster called name with policy cfg, making it (or
// replacing one with another policy) when needed.
func (t *Table) Cluster(name string, cfg *Config) *Cluster {
	t.mu.RLock()
	c := t.cls[name]
	t.mu.RUnlock()
	if c != nil && c.cfg == *cfg {
		return c
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c = t.cls[name]; c != nil && c.cfg == *cfg {
		return c
	}
	c = NewCluster(name, *cfg, t.now)
	t.cls[name] = c
	return c
}

// EndpointStatus is one endpoint as the admin API shows it.
type EndpointStatus struct {
	Address      string     `json:"address"`
	Ejected      bool       `json:"ejected"`
	EjectedUntil *time.Time `json:"ejectedUntil,omitempty"`
	Ejections    int64      `json:"ejections"`
	Multiplier   int64      `json:"ejectionMultiplier"`
	Active       int64      `json:"active"`
	Requests     int64      `json:"requests"`
	Consecutive  int64      `json:"consecutive5xx"`
}

// ClusterStatus is one cluster as the admin API shows it.
type ClusterStatus struct {
	Name      string           `json:"name"`
	Policy    Config           `json:"policy"`
	Ejections int64            `json:"ejections"`
	Ejected   int              `json:"ejected"`
	Overflows int64            `json:"overflows"`
	Panics    int64            `json:"panics"`
	Pending   int64            `json:"pending"`
	InUse     int              `json:"connectionsInUse"`
	Retries   int64            `json:"retriesInFlight"`
	RetryOver int64            `json:"retryOverflows"`
	Endpoints []EndpointStatus `json:"endpoints"`
}

// Status describes the cluster now.
func (c *Cluster) Status() ClusterStatus {
	now := c.now()
	s := ClusterStatus{Name: c.Name, Policy: c.cfg, Ejections: c.ejections.Load(), Overflows: c.overflows.Load(),
		Panics: c.panics.Load(), Pending: c.pending.Load(), InUse: len(c.slots),
		Retries: c.retries.Load(), RetryOver: c.retryOver.Load()}
	c.mu.RLock()
	for _, e := range c.eps {
		es := EndpointStatus{Address: e.addr, Ejections: e.times.Load(), Multiplier: e.multiplier(now.UnixNano(), c.cfg.Outlier.Interval), Active: e.active.Load(),
			Requests: e.requests.Load(), Consecutive: e.c5xx.Load()}
		if e.ejected(now.UnixNano()) {
			u := time.Unix(0, e.ejectedUntil.Load()).UTC()
			es.Ejected, es.EjectedUntil = true, &u
			s.Ejected++
		}
		s.Endpoints = append(s.Endpoints, es)
	}
	c.mu.RUnlock()
	sort.Slice(s.Endpoints, func(i, j int) bool { return s.Endpoints[i].Address < s.Endpoints[j].Address })
	return s
}

// Status describes every cluster, by name.
func (t *Table) Status() []ClusterStatus {
	t.mu.RLock()
	out := make([]ClusterStatus, 0, len(t.cls))
	for _, c := range t.cls {
		out = append(out, c.Status())
	}
	t.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
