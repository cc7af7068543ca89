package admin

import (
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Refused attempts. Every request a token check refuses (401: no token or
// a wrong one; 403: a valid token whose role may not use the path) is on
// record too (docs/contract.md §8, PCI DSS v4.0 10.2.1.4: invalid access
// attempts), through the function given to OnRefused. An unauthenticated
// caller must not be able to flood the store with them, so they are
// coalesced per source address: the first refusal of an (address, who,
// status, endpoint) in a window is recorded at once (the endpoint is the
// pattern the path matched, so the keys are bounded whatever paths a
// caller makes up); repeats within the window are counted and recorded
// as one refusal with that count when the window ends (with the path and
// query string of the latest). At most refusedKeys such keys are
// tracked per window; refusals beyond them are counted into one refusal
// from address "*". So however many requests are refused, at most
// 2 × refusedKeys + 1 refusals are recorded per window.

// Who a refused caller was, as recorded.
const (
	// RefusedNone: no Authorization header at all.
	RefusedNone = "none"
	// RefusedInvalid: a token that is neither the admin nor the auditor
	// token.
	RefusedInvalid = "invalid"
)

const (
	refusedWindow = 10 * time.Second
	refusedKeys   = 256
)

// Refusal is a refused request, or several coalesced.
type Refusal struct {
	// Time is when the (first) refusal happened.
	Time time.Time
	// IP is the caller's address ("*" for the overflow of several).
	IP string
	// Who is the role of the valid token refused (403), or RefusedNone
	// or RefusedInvalid (401).
	Who string
	// Status is 401 or 403.
	Status int
	// Method and Path (with the query string) of the (latest) request.
	Method, Path string
	// Count is how many refusals this one stands for (at least 1).
	Count int
}

type refusalKey struct {
	ip, who, pattern string
	status           int
}

type refusalCount struct {
	first, seen  time.Time
	extra        int // repeats not yet recorded
	method, path string
}

// repeat counts one more refusal, not yet recorded, at now.
func (c *refusalCount) repeat(now time.Time, method, path string) {
	if c.extra == 0 {
		c.first = now
	}
	c.extra++
	c.seen, c.method, c.path = now, method, path
}

// refusals coalesces refused requests (see the top of this file).
type refusals struct {
	record func(Refusal)
	now    func() time.Time

	mu       sync.Mutex
	keys     map[refusalKey]*refusalCount
	overflow map[int]*refusalCount // by status, beyond refusedKeys
	timer    *time.Timer
}

// OnRefused sets the function that records refused requests (coalesced,
// see Refusal). It is called from the request's goroutine for the first
// refusal of a key, from a timer for the counts; set it before Serve.
func (s *Server) OnRefused(record func(Refusal)) {
	s.refusals = &refusals{record: record, now: time.Now, keys: map[refusalKey]*refusalCount{},
		overflow: map[int]*refusalCount{}}
}

// refused notes that r was refused with status; who is its role (403) or
// RefusedNone/RefusedInvalid (401).
func (s *Server) refused(r *http.Request, status int, who string) {
	if s.refusals != nil {
		s.refusals.add(r, status, who)
	}
}

func (f *refusals) add(r *http.Request, status int, who string) {
	ip := r.RemoteAddr
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		ip = ap.Addr().Unmap().String()
	}
	now := f.now()
	k := refusalKey{ip, who, r.Pattern, status}
	path := r.URL.RequestURI()
	f.mu.Lock()
	if f.timer == nil {
		f.timer = time.AfterFunc(refusedWindow, f.tick)
	}
	if c := f.keys[k]; c != nil {
		c.repeat(now, r.Method, path)
		f.mu.Unlock()
		return
	}
	if len(f.keys) >= refusedKeys {
		o := f.overflow[status]
		if o == nil {
			o = &refusalCount{}
			f.overflow[status] = o
		}
		o.repeat(now, r.Method, path)
		f.mu.Unlock()
		return
	}
	f.keys[k] = &refusalCount{seen: now}
	f.mu.Unlock()
	f.record(Refusal{Time: now, IP: ip, Who: who, Status: status, Method: r.Method, Path: path, Count: 1})
}

// tick records the counts of the window that ended, and forgets the keys
// idle for a whole window.
func (f *refusals) tick() {
	f.flush(f.now(), false)
	f.mu.Lock()
	if len(f.keys) > 0 || len(f.overflow) > 0 {
		f.timer.Reset(refusedWindow)
	} else {
		f.timer = nil
	}
	f.mu.Unlock()
}

// flush records every count not yet recorded (final: and forgets every
// key).
func (f *refusals) flush(now time.Time, final bool) {
	var out []Refusal
	f.mu.Lock()
	for k, c := range f.keys {
		if c.extra > 0 {
			out = append(out, Refusal{Time: c.first, IP: k.ip, Who: k.who, Status: k.status, Method: c.method, Path: c.path, Count: c.extra})
			c.extra = 0
		}
		if final || now.Sub(c.seen) >= refusedWindow {
			delete(f.keys, k)
		}
	}
	for status, o := range f.overflow {
		if o.extra > 0 {
			out = append(out, Refusal{Time: o.first, IP: "*", Who: "*", Status: status, Method: o.method, Path: o.path, Count: o.extra})
		}
		delete(f.overflow, status)
	}
	f.mu.Unlock()
	for _, r := range out {
		f.record(r)
	}
}
