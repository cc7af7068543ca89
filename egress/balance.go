package egress

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"

	"github.com/sluicehq/sluice/internal/lb"
	"github.com/sluicehq/sluice/internal/vocab"
)

// balanced is the routing state of one HTTP request on a route with a
// DestinationRule traffic policy: the place it holds in the cluster's
// pool and the endpoint it was given. The zero value means none.
type balanced struct {
	cluster *lb.Cluster
	pick    lb.Pick
}

// balance applies a route's traffic policy to one HTTP request: it takes
// a place in the connection pool (or fails with upstream_overflow), picks
// one endpoint among the checked addresses and narrows the plan to it.
// A route without a policy costs nothing here.
func (g *Gateway) balance(ctx context.Context, c *call, r *http.Request, b *balanced) error {
	cfg := c.Route.Traffic
	if cfg == nil || c.plan == nil || len(c.plan.addrs) == 0 {
		return nil
	}
	cl := g.lbs.Cluster(c.Route.Cluster, cfg)
	if err := cl.Acquire(ctx); err != nil {
		if errors.Is(err, lb.ErrOverflow) {
			return fail(vocab.UpstreamOverflow, fmt.Errorf("%s: %w", c.Route.Cluster, err))
		}
		return fail(vocab.UpstreamTimeout, fmt.Errorf("waiting for a connection of %s: %w", c.Route.Cluster, err))
	}
	cands := make([]lb.Endpoint, len(c.plan.addrs))
	for i, a := range c.plan.addrs {
		cands[i] = lb.Endpoint{Addr: a.addr, Weight: a.weight}
	}
	p, err := cl.Choose(cands, hashKey(cfg.LB, r, c.Identity.IP))
	if err != nil {
		cl.Release()
		return fail(vocab.UpstreamUnreachable, fmt.Errorf("%s: %w", c.Route.Cluster, err))
	}
	*b = balanced{cluster: cl, pick: p}
	c.plan = &dialPlan{host: c.plan.host, addrs: c.plan.addrs[p.Index : p.Index+1], connectTimeout: cfg.Pool.ConnectTimeout}
	return nil
}

// done ends the request's hold on its endpoint and pool place, feeding
// outlier detection: the upstream's status, or a local failure (connect
// failure, reset, timeout) when there was no response.
func (b *balanced) done(status int, err error) {
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

// hashKey is the consistent-hash key of a request: the header, the query
// parameter or the caller's IP the policy names.
func hashKey(c lb.LBConfig, r *http.Request, src netip.Addr) string {
	switch {
	case c.Algorithm != lb.Hash:
		return ""
	case c.HashHeader != "":
		return r.Header.Get(c.HashHeader)
	case c.HashQuery != "":
		return r.URL.Query().Get(c.HashQuery)
	case c.HashSourceIP:
		return src.String()
	}
	return ""
}
