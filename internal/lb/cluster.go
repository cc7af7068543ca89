package lb

import (
	"context"
	"errors"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// ErrOverflow is a call refused because its cluster's connection pool
// and pending queue are full (reason upstream_overflow).
var ErrOverflow = errors.New("connection pool full: maxConnections in use and http1MaxPendingRequests waiting")

// ErrNoHealthy is a call with every endpoint ejected and panic mode off.
var ErrNoHealthy = errors.New("no healthy upstream: every endpoint is ejected by outlier detection")

// Endpoint is one candidate of a call: a checked address and its weight
// (0 counts as 1).
type Endpoint struct {
	Addr   string
	Weight int
}

// Cluster is the live state of one route's (or subset's) endpoints: the
// round-robin position, requests in flight, consecutive errors and
// ejections, and the pool's slots. It is shared by every call of the
// route and safe for concurrent use.
type Cluster struct {
	Name string
	cfg  Config
	now  func() time.Time
	seed maphash.Seed

	rr        atomic.Uint64
	slots     chan struct{} // nil: no connection limit
	pending   atomic.Int64
	overflows atomic.Int64
	ejections atomic.Int64
	panics    atomic.Int64
	retries   atomic.Int64 // retries in flight
	retryOver atomic.Int64 // retries not made: maxRetries in flight

	mu  sync.RWMutex
	eps map[string]*endpoint
}

// endpoint is the state of one address.
type endpoint struct {
	addr         string
	active       atomic.Int64
	requests     atomic.Int64
	c5xx, cgw    atomic.Int64
	clocal       atomic.Int64
	ejectedUntil atomic.Int64 // unix nanoseconds; 0: in service
	times        atomic.Int64 // ejections so far
	mult         atomic.Int64 // ejection multiplier: times, less one per healthy interval
}

// NewCluster makes the state of a cluster; now is the clock (nil:
// time.Now), injectable for tests.
func NewCluster(name string, cfg Config, now func() time.Time) *Cluster {
	if now == nil {
		now = time.Now
	}
	c := &Cluster{Name: name, cfg: cfg, now: now, seed: maphash.MakeSeed(), eps: map[string]*endpoint{}}
	if cfg.Pool.MaxConnections > 0 {
		c.slots = make(chan struct{}, cfg.Pool.MaxConnections)
	}
	return c
}

// Config is the policy the cluster applies.
func (c *Cluster) Config() Config { return c.cfg }

// Acquire takes a place in the connection pool: a free connection, else
// a place among the pending requests until one frees or ctx ends. It
// fails with ErrOverflow when both are full. Every successful Acquire is
// paired with a Release.
func (c *Cluster) Acquire(ctx context.Context) error {
	if c.slots == nil {
		return nil
	}
	select {
	case c.slots <- struct{}{}:
		return nil
	default:
	}
	if max := c.cfg.Pool.MaxPending; max > 0 && c.pending.Add(1) > int64(max) {
		c.pending.Add(-1)
		c.overflows.Add(1)
		return ErrOverflow
	} else if max <= 0 {
		c.pending.Add(1)
	}
	defer c.pending.Add(-1)
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release gives back the place Acquire took.
func (c *Cluster) Release() {
	if c.slots != nil {
		<-c.slots
	}
}

// TryRetry takes a place among the cluster's retries in flight
// (connectionPool.http.maxRetries, Envoy's max_retries circuit breaker;
// 0 is no limit). It reports false, and counts it, when the cap is
// reached: the retry is not made. Every successful TryRetry is paired
// with a RetryDone when the retry attempt ends.
func (c *Cluster) TryRetry() bool {
	max := int64(c.cfg.Pool.MaxRetries)
	if n := c.retries.Add(1); max > 0 && n > max {
		c.retries.Add(-1)
		c.retryOver.Add(1)
		return false
	}
	return true
}

// RetryDone gives back the place TryRetry took.
func (c *Cluster) RetryDone() { c.retries.Add(-1) }

// Pick is the endpoint chosen for one attempt; Done reports its outcome.
type Pick struct {
	Index int  // into the candidates given to Choose
	Panic bool // chosen in panic mode (ejections ignored)
	ep    *endpoint
}

// Choose picks an endpoint among cands for one attempt. key is the
// consistent-hash key (ignored unless the algorithm is Hash). The chosen
// endpoint counts one more request in flight until Done.
func (c *Cluster) Choose(cands []Endpoint, key string) (Pick, error) {
	n := len(cands)
	if n == 0 {
		return Pick{Index: -1}, ErrNoHealthy
	}
	var local [8]*endpoint
	eps := local[:0]
	if n > len(local) {
		eps = make([]*endpoint, 0, n)
	}
	now := c.now().UnixNano()
	healthy := 0
	c.mu.RLock()
	missing := false
	for _, cd := range cands {
		e := c.eps[cd.Addr]
		missing = missing || e == nil
		eps = append(eps, e)
	}
	c.mu.RUnlock()
	if missing {
		c.mu.Lock()
		for i, cd := range cands {
			if eps[i] == nil {
				if eps[i] = c.eps[cd.Addr]; eps[i] == nil {
					eps[i] = &endpoint{addr: cd.Addr}
					c.eps[cd.Addr] = eps[i]
				}
			}
		}
		c.mu.Unlock()
	}
	for _, e := range eps {
		if !e.ejected(now) {
			healthy++
		}
	}
	panicMode := false
	if healthy < n && c.cfg.Outlier.MinHealthPercent > 0 && healthy*100 < c.cfg.Outlier.MinHealthPercent*n {
		panicMode = true // Envoy's panic threshold: balance over every endpoint
		c.panics.Add(1)
	}
	if healthy == 0 && !panicMode {
		return Pick{Index: -1}, ErrNoHealthy
	}
	ok := func(i int) bool { return panicMode || !eps[i].ejected(now) }
	i := -1
	switch c.cfg.LB.Algorithm {
	case Passthrough:
		for j := range n {
			if ok(j) {
				i = j
				break
			}
		}
	case RoundRobin:
		i = c.roundRobin(cands, ok)
	case Random:
		i = weightedRandom(cands, ok)
	case Hash:
		if key == "" { // no header, cookie, parameter: Envoy hashes a random value
			i = weightedRandom(cands, ok)
			break
		}
		i = c.rendezvous(cands, key, ok)
	default: // LEAST_REQUEST, Istio's default
		i = c.leastRequest(cands, eps, ok)
	}
	e := eps[i]
	e.active.Add(1)
	e.requests.Add(1)
	return Pick{Index: i, Panic: panicMode, ep: e}, nil
}

func weight(e Endpoint) int {
	if e.Weight <= 0 {
		return 1
	}
	return e.Weight
}

// roundRobin walks the candidates in order, each as many times in a row
// as its weight, skipping ejected ones.
func (c *Cluster) roundRobin(cands []Endpoint, ok func(int) bool) int {
	total := 0
	for _, cd := range cands {
		total += weight(cd)
	}
	pos := int(c.rr.Add(1)-1) % total
	start := 0
	for pos >= weight(cands[start]) {
		pos -= weight(cands[start])
		start++
	}
	for k := range len(cands) {
		if j := (start + k) % len(cands); ok(j) {
			return j
		}
	}
	return start
}

func weightedRandom(cands []Endpoint, ok func(int) bool) int {
	total := 0
	for i, cd := range cands {
		if ok(i) {
			total += weight(cd)
		}
	}
	r := rand.IntN(total)
	for i, cd := range cands {
		if !ok(i) {
			continue
		}
		if r < weight(cd) {
			return i
		}
		r -= weight(cd)
	}
	return 0
}

// leastRequest picks the endpoint with the fewest requests in flight per
// unit of weight; ties go round robin.
func (c *Cluster) leastRequest(cands []Endpoint, eps []*endpoint, ok func(int) bool) int {
	n := len(cands)
	start := int(c.rr.Add(1)-1) % n
	best, bestScore := -1, math.Inf(1)
	for k := range n {
		j := (start + k) % n
		if !ok(j) {
			continue
		}
		s := float64(eps[j].active.Load()) / float64(weight(cands[j]))
		if s < bestScore {
			best, bestScore = j, s
		}
	}
	return best
}

// rendezvous is weighted highest-random-weight hashing: each key goes to
// one endpoint, and only the keys of an endpoint that leaves move.
func (c *Cluster) rendezvous(cands []Endpoint, key string, ok func(int) bool) int {
	kh := maphash.String(c.seed, key)
	best, bestScore := -1, math.Inf(-1)
	for j, cd := range cands {
		if !ok(j) {
			continue
		}
		h := mix(kh ^ maphash.String(c.seed, cd.Addr))
		u := (float64(h>>11) + 0.5) / (1 << 53) // in (0,1)
		s := float64(weight(cd)) / -math.Log(u)
		if s > bestScore {
			best, bestScore = j, s
		}
	}
	return best
}

// mix is splitmix64's finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func (e *endpoint) ejected(now int64) bool {
	u := e.ejectedUntil.Load()
	return u != 0 && now < u
}

// Outcome is how an attempt ended, for outlier detection.
type Outcome struct {
	Status int  // the upstream's HTTP status; 0 when there was none
	Local  bool // a locally originated failure: connect failure, timeout, reset
}

// Done ends an attempt: the request leaves the endpoint's count in flight
// and its outcome feeds outlier detection. It reports whether this
// outcome ejected the endpoint.
func (c *Cluster) Done(p Pick, o Outcome) bool {
	e := p.ep
	if e == nil {
		return false
	}
	e.active.Add(-1)
	od := &c.cfg.Outlier
	if !od.Enabled {
		return false
	}
	status := o.Status
	if o.Local {
		if od.SplitLocalOrigin {
			if od.ConsecutiveLocalOrigin > 0 && e.clocal.Add(1) >= int64(od.ConsecutiveLocalOrigin) {
				return c.eject(e)
			}
			return false
		}
		status = 503 // Envoy counts a local failure as a gateway error
	}
	e.clocal.Store(0)
	switch {
	case status >= 500:
		n5 := e.c5xx.Add(1)
		var ngw int64
		if status >= 502 && status <= 504 {
			ngw = e.cgw.Add(1)
		} else {
			e.cgw.Store(0)
		}
		if od.Consecutive5xx > 0 && n5 >= int64(od.Consecutive5xx) || od.ConsecutiveGateway > 0 && ngw >= int64(od.ConsecutiveGateway) {
			return c.eject(e)
		}
	default:
		e.c5xx.Store(0)
		e.cgw.Store(0)
	}
	return false
}

// multiplier is e's ejection multiplier now: as Envoy's interval sweep
// does, it went down by one for every whole interval e has been back in
// service since its last ejection ended, so a host that recovered is
// ejected for baseEjectionTime again, not ever longer.
func (e *endpoint) multiplier(now int64, interval time.Duration) int64 {
	m := e.mult.Load()
	until := e.ejectedUntil.Load()
	if m == 0 || until == 0 || now < until || interval <= 0 {
		return m
	}
	return max(0, m-(now-until)/int64(interval))
}

// eject takes e out of service for baseEjectionTime × its ejection
// multiplier (capped at 300s, Envoy's default), ending at the next interval tick
// as Envoy's sweep does, unless maxEjectionPercent of the cluster is
// already out (at least one endpoint may always be ejected).
func (c *Cluster) eject(e *endpoint) bool {
	now := c.now()
	nowN := now.UnixNano()
	c.mu.RLock()
	total, out := len(c.eps), 0
	for _, x := range c.eps {
		if x.ejected(nowN) {
			out++
		}
	}
	c.mu.RUnlock()
	if e.ejected(nowN) {
		return false
	}
	if out > 0 && out*100 >= c.cfg.Outlier.MaxEjectionPercent*total {
		return false
	}
	e.times.Add(1)
	mult := e.multiplier(nowN, c.cfg.Outlier.Interval)
	if base := c.cfg.Outlier.BaseEjectionTime; base*time.Duration(mult) < max(base, maxEjectionTime)+base {
		mult++ // as Envoy, it stops growing once it covers the cap
	}
	e.mult.Store(mult)
	d := c.cfg.Outlier.BaseEjectionTime * time.Duration(mult)
	if cap := max(c.cfg.Outlier.BaseEjectionTime, maxEjectionTime); d > cap {
		d = cap
	}
	if iv := c.cfg.Outlier.Interval; iv > 0 {
		d = (d + iv - 1) / iv * iv
	}
	e.ejectedUntil.Store(nowN + int64(d))
	e.c5xx.Store(0)
	e.cgw.Store(0)
	e.clocal.Store(0)
	c.ejections.Add(1)
	return true
}
