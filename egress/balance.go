package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"

	"github.com/sluicehq/sluice/internal/lb"
	"github.com/sluicehq/sluice/internal/vocab"
	"github.com/sluicehq/sluice/registry"
)

// balanced is the routing state of one HTTP request on a route with a
// DestinationRule traffic policy or a VirtualService rule: the rule and
// destination chosen, the place it holds in the cluster's pool, the
// endpoint it was given and the attempts made. The zero value means
// none: such a request takes the plain path.
type balanced struct {
	rule    *registry.HTTPRule
	dest    *registry.RouteDest
	cfg     *lb.Config
	name    string    // the cluster's name
	full    *dialPlan // every endpoint the request may use
	cluster *lb.Cluster
	retry   *lb.Cluster // holds a place among its retries in flight
	// cookie is the httpCookie value generated for a request without
	// one; setCookie the Set-Cookie header its response carries.
	cookie, setCookie string
	pick              lb.Pick
	attempts          int
	cancels           []context.CancelFunc

	// Room for the plans and candidates of a request with a few
	// endpoints, so that routing allocates nothing for them.
	subset   dialPlan
	narrowed dialPlan
	addrBuf  [4]dialAddr
	candBuf  [4]lb.Endpoint
}

// selectRoute picks the VirtualService rule and destination of an HTTP
// request, before its record is begun. It reports false when the route
// has http rules and none matches: the request is refused (no_route),
// as Envoy answers 404 NR. A route without rules is left alone.
func (g *Gateway) selectRoute(c *call, r *http.Request, b *balanced) bool {
	rt := c.Route
	if rt == nil || len(rt.HTTP) == 0 {
		return true
	}
	rule, dest, ok := rt.SelectHTTP(registry.HTTPRequest{Path: c.Path, Method: c.Method, Port: c.Port, Header: r.Header})
	b.rule, b.dest = rule, dest
	return ok
}

// noHTTPRoute is the detail of a request no http rule matches.
func noHTTPRoute(c *call) string {
	return "no http rule of VirtualService " + c.Route.VirtualService + " matches " + c.Method + " " + c.Path
}

// route narrows the plan of an HTTP request to the subset's endpoints of
// the destination selectRoute chose, and sets the traffic policy that
// applies. With neither a rule nor a traffic policy it does nothing and
// allocates nothing.
func (g *Gateway) route(c *call, r *http.Request, b *balanced) error {
	rt := c.Route
	if rt == nil || (rt.Traffic == nil && b.rule == nil) || c.plan == nil {
		return nil
	}
	b.cfg, b.name = rt.Traffic, rt.Cluster
	if dest := b.dest; dest != nil {
		b.cfg, b.name = dest.Traffic, dest.Cluster
		if dest.Labels != nil {
			b.subset = dialPlan{host: c.plan.host, addrs: b.addrBuf[:0], connectTimeout: c.plan.connectTimeout}
			p := &b.subset
			for _, a := range c.plan.addrs {
				if dest.Selects(a.labels) {
					p.addrs = append(p.addrs, a)
				}
			}
			if len(p.addrs) == 0 {
				return fail(vocab.UpstreamUnreachable, fmt.Errorf("subset %s of %s has no endpoint", dest.Subset, rt.Host))
			}
			c.plan = p
		}
	}
	b.full = c.plan
	return nil
}

// balance applies the traffic policy to one attempt: it takes a place in
// the connection pool (or fails with upstream_overflow), picks one
// endpoint among the request's and narrows the plan to it.
func (g *Gateway) balance(ctx context.Context, c *call, r *http.Request, b *balanced) error {
	if b.cfg == nil || b.full == nil || len(b.full.addrs) == 0 {
		return nil
	}
	cl := g.lbs.Cluster(b.name, b.cfg)
	if err := cl.Acquire(ctx); err != nil {
		if errors.Is(err, lb.ErrOverflow) {
			return fail(vocab.UpstreamOverflow, fmt.Errorf("%s: %w", b.name, err))
		}
		return fail(vocab.UpstreamTimeout, fmt.Errorf("waiting for a connection of %s: %w", b.name, err))
	}
	cands := b.candBuf[:0]
	for _, a := range b.full.addrs {
		cands = append(cands, lb.Endpoint{Addr: a.addr, Weight: a.weight})
	}
	key := hashKey(b.cfg.LB, r, c.Identity.IP)
	if b.cfg.LB.HashCookie != "" && b.cfg.LB.Algorithm == lb.Hash && r != nil {
		key = b.cookieKey(&b.cfg.LB, r)
	}
	p, err := cl.Choose(cands, key)
	if err != nil {
		cl.Release()
		return fail(vocab.UpstreamUnreachable, fmt.Errorf("%s: %w", b.name, err))
	}
	b.cluster, b.pick = cl, p
	b.narrowed = dialPlan{host: b.full.host, addrs: b.full.addrs[p.Index : p.Index+1], connectTimeout: b.cfg.Pool.ConnectTimeout,
		pool: &b.cfg.Pool, tunnel: r == nil}
	c.plan = &b.narrowed
	return nil
}

// done ends an attempt's hold on its endpoint and pool place, feeding
// outlier detection: the upstream's status, or a local failure (connect
// failure, reset, timeout) when there was no response.
func (b *balanced) done(status int, err error) {
	if b.retry != nil {
		b.retry.RetryDone()
		b.retry = nil
	}
	if b.cluster == nil {
		return
	}
	o := lb.Outcome{Status: status}
	if err != nil {
		o = lb.Outcome{Local: true}
	}
	b.cluster.Done(b.pick, o)
	b.cluster.Release()
	b.cluster = nil
}

// takeRetry takes a place among the retries in flight of the cluster the
// next attempt goes to (connectionPool.http.maxRetries); false: the cap
// is reached and the retry is not made.
func (g *Gateway) takeRetry(b *balanced) bool {
	if b.cfg == nil || b.cfg.Pool.MaxRetries <= 0 {
		return true
	}
	cl := g.lbs.Cluster(b.name, b.cfg)
	if !cl.TryRetry() {
		return false
	}
	b.retry = cl
	return true
}

// end releases everything the request still holds.
func (b *balanced) end(status int, err error) {
	b.done(status, err)
	for _, cancel := range b.cancels {
		cancel()
	}
	b.cancels = nil
}

// roundTrip carries a request routed by a VirtualService rule: per-try
// timeouts and retries as the rule says, a new endpoint for every
// attempt. A request body up to retryBufferBytes is kept and sent again
// on a retry; a longer one is streamed and the request sent once.
func (g *Gateway) roundTrip(tr http.RoundTripper, req *http.Request, c *call, f *forward) (*http.Response, error) {
	b := &f.lb
	retry := &b.rule.Retry
	replayable := f.body == nil
	var body *replayBody
	if !replayable && retry.Attempts > 0 {
		var err error
		if body, err = bufferForRetry(req); err != nil {
			return nil, err
		}
		replayable = body != nil
	}
	for try := 1; ; try++ {
		b.attempts = try
		if body != nil && try > 1 {
			body.set(req)
		}
		rq := req
		if retry.PerTryTimeout > 0 {
			ctx, cancel := context.WithTimeout(req.Context(), retry.PerTryTimeout)
			b.cancels = append(b.cancels, cancel)
			rq = req.WithContext(ctx)
		}
		resp, err := tr.RoundTrip(rq)
		if try > retry.Attempts || !replayable || req.Context().Err() != nil {
			return resp, err
		}
		status := 0
		switch {
		case err != nil:
			if !(retry.On5xx || retry.OnGateway || retry.OnReset || retry.OnConnect && classify(err) == vocab.UpstreamUnreachable) {
				return resp, err
			}
		case retry.RetryStatus(resp.StatusCode):
			status = resp.StatusCode
		default:
			return resp, nil
		}
		b.done(status, err)
		if !g.takeRetry(b) {
			return resp, err // maxRetries in flight: the failure stands
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if b.cfg != nil {
			if berr := g.balance(req.Context(), c, req, b); berr != nil {
				return nil, berr
			}
			req = req.WithContext(withPlan(req.Context(), c.plan))
			if req.URL.Scheme == "http" && c.plan.addrs[0].network == "tcp" {
				u := *req.URL
				u.Host = c.plan.addrs[0].addr
				req.URL = &u
			}
		}
	}
}

// hashKey is the consistent-hash key of a request: the header, the query
// parameter or the caller's IP the policy names.
func hashKey(c lb.LBConfig, r *http.Request, src netip.Addr) string {
	switch {
	case c.Algorithm != lb.Hash:
		return ""
	case c.HashSourceIP:
		return src.String()
	case r == nil: // a tunnel: no headers to hash on
		return ""
	case c.HashHeader != "":
		return r.Header.Get(c.HashHeader)
	case c.HashQuery != "":
		return r.URL.Query().Get(c.HashQuery)
	}
	return ""
}
