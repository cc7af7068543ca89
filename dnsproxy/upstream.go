package dnsproxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// ednsSize is the UDP payload size Sluice advertises and accepts (the DNS
// flag day value: no IP fragmentation on common paths).
const ednsSize = 1232

// upstreams exchanges messages with the configured resolvers. It tries
// them in order, starting with the last one that answered, so one dead
// upstream costs a timeout once rather than on every query. A truncated
// UDP answer is retried over TCP (dns.Client does neither for us).
type upstreams struct {
	addrs   []string
	timeout time.Duration
	udp     *dns.Client
	tcp     *dns.Client
	first   atomic.Uint32 // index of the upstream to try first
	metrics *resolverMetrics
}

func newUpstreams(addrs []netip.AddrPort, timeout time.Duration, rm *resolverMetrics) *upstreams {
	u := &upstreams{
		timeout: timeout,
		udp:     &dns.Client{Net: "udp", Timeout: timeout, UDPSize: ednsSize},
		tcp:     &dns.Client{Net: "tcp", Timeout: timeout},
		metrics: rm,
	}
	for _, a := range addrs {
		u.addrs = append(u.addrs, a.String())
	}
	return u
}

// budget is how long trying every upstream once may take.
func (u *upstreams) budget() time.Duration {
	n := len(u.addrs)
	if n == 0 {
		n = 1
	}
	// Each upstream may need a UDP try and a TCP retry.
	return time.Duration(n)*u.timeout + u.timeout
}

// exchange sends m to the upstreams until one gives a usable answer
// (NOERROR or NXDOMAIN). m is not modified; the upstream sees a fresh
// message ID. The reply carries m's ID. When every upstream fails the
// error wraps ErrUpstream.
func (u *upstreams) exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	if len(u.addrs) == 0 {
		return nil, fmt.Errorf("%w: no upstream resolvers configured", ErrUpstream)
	}
	if len(m.Question) == 0 {
		return nil, fmt.Errorf("%w: query without a question", ErrUpstream)
	}
	q := *m // shallow copy: only the ID changes, the sections are shared read-only
	q.Id = dns.Id()
	var errs []error
	n := uint32(len(u.addrs))
	start := u.first.Load() % n
	for i := uint32(0); i < n; i++ {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		idx := (start + i) % n
		addr := u.addrs[idx]
		r, err := u.exchangeOne(ctx, &q, addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		if i > 0 {
			u.first.Store(idx)
		}
		r.Id = m.Id
		return r, nil
	}
	return nil, fmt.Errorf("%w: %w", ErrUpstream, errors.Join(errs...))
}

// exchangeOne asks one upstream, over UDP then TCP when truncated.
func (u *upstreams) exchangeOne(ctx context.Context, q *dns.Msg, addr string) (*dns.Msg, error) {
	start := time.Now()
	r, err := u.try(ctx, u.udp, q, addr)
	if err == nil && r.Truncated {
		r, err = u.try(ctx, u.tcp, q, addr)
	}
	if err != nil {
		u.metrics.upstream.Record(ctx, time.Since(start).Seconds(), u.metrics.upErr)
		return nil, err
	}
	u.metrics.upstream.Record(ctx, time.Since(start).Seconds(), u.metrics.upOK)
	return r, nil
}

func (u *upstreams) try(ctx context.Context, c *dns.Client, q *dns.Msg, addr string) (*dns.Msg, error) {
	cctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	r, _, err := c.ExchangeContext(cctx, q, addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Net, err)
	}
	if r.Id != q.Id {
		return nil, fmt.Errorf("%s: reply ID %d does not match query ID %d", c.Net, r.Id, q.Id)
	}
	switch r.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		return nil, fmt.Errorf("%s: answered %s", c.Net, rcodeString(r.Rcode))
	}
	if len(r.Question) != 1 || r.Question[0].Qtype != q.Question[0].Qtype ||
		!strings.EqualFold(r.Question[0].Name, q.Question[0].Name) {
		return nil, fmt.Errorf("%s: reply is for another question", c.Net)
	}
	return r, nil
}

func rcodeString(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}
