package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/sluicehq/sluice/internal/canon"
	"github.com/sluicehq/sluice/internal/lb"
	"github.com/sluicehq/sluice/internal/netguard"
	"github.com/sluicehq/sluice/internal/vocab"
	"github.com/sluicehq/sluice/registry"
)

// dialer implements docs/contract.md "Dialling rules": resolve through the
// gateway's resolver, check every address, and dial exactly the checked
// one. Resolving and checking (resolve) happen before the call's record
// is committed, so that a refused address is recorded as a denial;
// dialling (dial) happens after.
type dialer struct {
	resolver Resolver
	guard    *netguard.Guard
	timeout  time.Duration
	net      net.Dialer
}

// dialAddr is one checked place to connect to.
type dialAddr struct {
	network string // "tcp" or "unix"
	addr    string // "ip:port" (checked) or a socket path (declared)
	weight  int    // the endpoint's load-balancing weight (0: 1)
	labels  map[string]string
}

// dialPlan is where a call may go: the checked addresses, in order of
// preference, for the canonical host the caller asked for.
type dialPlan struct {
	host  canon.Host
	addrs []dialAddr
	// connectTimeout is the route's connectionPool.tcp.connectTimeout;
	// 0: limits.connect_timeout.
	connectTimeout time.Duration
	// pool is the route's connectionPool, for the connections it dials
	// (pool.go); nil: none. tunnel says they carry a tunnel.
	pool   *lb.PoolConfig
	tunnel bool
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

// resolve turns a route's targets into checked addresses. undeclared is
// set in registry report mode for destinations no ServiceEntry declares:
// even IP literals are then checked as resolved addresses. With no
// address left the error carries the reason: forbidden_address when
// addresses were refused, dns_failure when names did not resolve.
func (d *dialer) resolve(ctx context.Context, host canon.Host, targets []registry.Target, undeclared bool) (*dialPlan, error) {
	p := &dialPlan{host: host, addrs: make([]dialAddr, 0, len(targets))}
	var errs []error
	for _, t := range targets {
		switch {
		case t.Unix != "":
			p.addrs = append(p.addrs, dialAddr{"unix", t.Unix, t.Weight, t.Labels})
		case t.IP.IsValid():
			ap := netip.AddrPortFrom(t.IP, uint16(t.Port))
			if err := d.guard.Check(ap, !undeclared); err != nil {
				errs = append(errs, err)
				continue
			}
			p.addrs = append(p.addrs, dialAddr{"tcp", ap.String(), t.Weight, t.Labels})
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
				p.addrs = append(p.addrs, dialAddr{"tcp", ap.String(), t.Weight, t.Labels})
			}
		}
	}
	if len(p.addrs) == 0 {
		if len(errs) == 0 {
			return nil, fail(vocab.UpstreamUnreachable, errors.New("no endpoints declared for this destination"))
		}
		return nil, mostTelling(errs)
	}
	return p, nil
}

// dial connects to the first reachable address of the plan; the error
// carries upstream_timeout or upstream_unreachable.
func (d *dialer) dial(ctx context.Context, p *dialPlan) (net.Conn, error) {
	if p == nil || len(p.addrs) == 0 {
		return nil, fail(vocab.UpstreamUnreachable, errors.New("no address to dial"))
	}
	var errs []error
	timeout := d.timeout
	if p.connectTimeout > 0 {
		timeout = p.connectTimeout
	}
	for _, a := range p.addrs {
		c, err := d.connect(ctx, a.network, a.addr, timeout)
		if err == nil {
			return p.wrapConn(c), nil
		}
		errs = append(errs, err)
	}
	return nil, mostTelling(errs)
}

func (d *dialer) connect(ctx context.Context, network, addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := d.net.DialContext(ctx, network, addr)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fail(vocab.UpstreamTimeout, fmt.Errorf("connect to %s: timed out after %s", addr, timeout))
		}
		return nil, fail(vocab.UpstreamUnreachable, err)
	}
	return c, nil
}

// mostTelling picks the error to report: a connect failure beats a
// refused address, which beats a resolution failure.
func mostTelling(errs []error) error {
	rank := func(err error) int {
		switch classify(err) {
		case vocab.UpstreamTimeout, vocab.UpstreamUnreachable:
			return 3
		case vocab.ForbiddenAddress:
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
