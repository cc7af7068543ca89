package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/sluicehq/sluice/dnsproxy"
	"github.com/sluicehq/sluice/internal/netguard"
	"github.com/sluicehq/sluice/registry"
)

// dialer implements DESIGN section 6: resolve through the gateway's
// resolver, check every address, and dial exactly the checked one.
type dialer struct {
	resolver *dnsproxy.Resolver
	guard    *netguard.Guard
	timeout  time.Duration
	net      net.Dialer
}

// dialPlan is where a call may go: the route's targets for the host the
// caller asked for.
type dialPlan struct {
	host    string
	targets []registry.Target
	// undeclared is set in registry report mode for destinations no
	// ServiceEntry declares: even IP literals are then checked as
	// resolved addresses.
	undeclared bool
}

type planKey struct{}

// withPlan attaches a plan to ctx; the HTTP transport's DialContext reads
// it back, so pooled transports dial what the decision allowed.
func withPlan(ctx context.Context, p *dialPlan) context.Context {
	return context.WithValue(ctx, planKey{}, p)
}

func planFrom(ctx context.Context) *dialPlan {
	p, _ := ctx.Value(planKey{}).(*dialPlan)
	return p
}

// dial connects to the first reachable checked address of the plan. The
// error carries the reason: forbidden_address when every address was
// refused, dns_failure when names did not resolve, upstream_timeout or
// upstream_unreachable when connects failed.
func (d *dialer) dial(ctx context.Context, p *dialPlan) (net.Conn, error) {
	if p == nil || len(p.targets) == 0 {
		return nil, fail(ReasonUpstreamUnreachable, errors.New("no endpoints declared for this destination"))
	}
	var errs []error
	for _, t := range p.targets {
		switch {
		case t.Unix != "":
			c, err := d.connect(ctx, "unix", t.Unix)
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
		case t.IP.IsValid():
			ap := netip.AddrPortFrom(t.IP, uint16(t.Port))
			if err := d.guard.Check(ap, !p.undeclared); err != nil {
				errs = append(errs, err)
				continue
			}
			c, err := d.connect(ctx, "tcp", ap.String())
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
		default:
			ips, err := d.resolver.LookupIP(ctx, t.Host)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, ip := range ips {
				ap := netip.AddrPortFrom(ip, uint16(t.Port))
				if err := d.guard.Check(ap, false); err != nil {
					errs = append(errs, err)
					continue
				}
				c, err := d.connect(ctx, "tcp", ap.String())
				if err == nil {
					return c, nil
				}
				errs = append(errs, err)
			}
		}
	}
	return nil, dialError(errs)
}

func (d *dialer) connect(ctx context.Context, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	c, err := d.net.DialContext(ctx, network, addr)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fail(ReasonUpstreamTimeout, fmt.Errorf("connect to %s: timed out after %s", addr, d.timeout))
		}
		return nil, fail(ReasonUpstreamUnreachable, err)
	}
	return c, nil
}

// dialError picks the most telling error: a connect failure beats a
// refused address, which beats a resolution failure.
func dialError(errs []error) error {
	if len(errs) == 0 {
		return fail(ReasonUpstreamUnreachable, errors.New("no address to dial"))
	}
	rank := func(err error) int {
		switch classify(err) {
		case ReasonUpstreamTimeout, ReasonUpstreamUnreachable:
			return 3
		case ReasonForbiddenAddress:
			return 2
		}
		return 1
	}
	best := errs[0]
	for _, e := range errs[1:] {
		if rank(e) > rank(best) {
			best = e
		}
	}
	return best
}

// remoteIP is the dialled IP of a connection, for the record.
func remoteIP(c net.Conn) string {
	if c == nil {
		return ""
	}
	if ip := addrOf(c.RemoteAddr()); ip.IsValid() {
		return ip.String()
	}
	return ""
}
