package dnsproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/sluicehq/sluice/internal/canon"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/netguard"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sync/singleflight"
)

// Errors of LookupIP. The egress pipeline maps both to the reason code
// dns_failure.
var (
	// ErrNotFound: the name does not exist (NXDOMAIN) or has no address
	// (NODATA).
	ErrNotFound = errors.New("dns: name not found")
	// ErrUpstream: no upstream resolver gave a usable answer in time.
	ErrUpstream = errors.New("dns: upstreams failed")
)

// Defaults of ResolverOptions.
const (
	DefaultTimeout    = 2 * time.Second
	DefaultMaxTTL     = 300 * time.Second
	DefaultCacheSize  = 10000
	DefaultResolvConf = "/etc/resolv.conf"
)

// ResolverOptions configure the gateway's resolver.
type ResolverOptions struct {
	// Upstreams are the resolvers to ask, in order of preference; empty
	// means the nameservers of ResolvConf.
	Upstreams []netip.AddrPort
	// ResolvConf is read for upstreams when Upstreams is empty; default
	// /etc/resolv.conf.
	ResolvConf string
	// Timeout bounds one exchange with one upstream (dns.timeout); default
	// 2s. After it the next upstream is tried.
	Timeout time.Duration
	// Cache clamps upstream TTLs (dns.cache). Zero MaxTTL means 300s, zero
	// Size means 10000 names, zero NegativeTTL turns negative caching off.
	Cache config.DNSCache
	// Guard refuses forbidden addresses; nil still applies the ranges.
	Guard *netguard.Guard
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// MeterProvider receives sluice_dns_upstream_duration_seconds and
	// sluice_dns_resolver_cache_total; nil means no metrics.
	MeterProvider metric.MeterProvider
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Resolver is the gateway's own resolver, used by the egress dialer for
// resolution DNS entries and wildcard NONE entries, and by the DNS proxy
// in endpoints mode. It caches answers (TTL clamped to [min_ttl,
// max_ttl]), caches negative answers (SOA minimum, capped by
// negative_ttl), coalesces concurrent identical lookups, and passes every
// address through the forbidden-address check, so that a name the
// registry declares cannot be pointed at the gateway's network by
// whoever controls its DNS.
type Resolver struct {
	opts    ResolverOptions
	log     *slog.Logger
	ups     *upstreams
	cache   *cache
	flight  singleflight.Group
	metrics *resolverMetrics
	now     func() time.Time

	minTTL, maxTTL, negTTL time.Duration
}

// NewResolver returns a resolver. When Upstreams is empty and ResolvConf
// cannot be read, the resolver still works but every lookup fails with
// ErrUpstream (and the problem is logged once here).
func NewResolver(opts ResolverOptions) *Resolver {
	r := &Resolver{opts: opts, log: opts.Logger, now: opts.Now, metrics: newResolverMetrics(opts.MeterProvider)}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	r.minTTL, r.maxTTL, r.negTTL = opts.Cache.MinTTL.D(), opts.Cache.MaxTTL.D(), opts.Cache.NegativeTTL.D()
	if r.maxTTL <= 0 {
		r.maxTTL = DefaultMaxTTL
	}
	if r.minTTL > r.maxTTL {
		r.minTTL = r.maxTTL
	}
	size := opts.Cache.Size
	if size <= 0 {
		size = DefaultCacheSize
	}
	r.cache = newCache(size)
	ups := opts.Upstreams
	if len(ups) == 0 {
		var err error
		if ups, err = resolvConfServers(opts.ResolvConf); err != nil {
			r.log.Error("dns: no upstream resolvers: lookups will fail", "err", err)
		}
	}
	r.ups = newUpstreams(ups, timeout, r.metrics)
	return r
}

// resolvConfServers reads the nameservers of a resolv.conf file.
func resolvConfServers(path string) ([]netip.AddrPort, error) {
	if path == "" {
		path = DefaultResolvConf
	}
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("dnsproxy: %s: %w", path, err)
	}
	port, err := strconv.ParseUint(cc.Port, 10, 16)
	if err != nil {
		port = 53
	}
	var out []netip.AddrPort
	for _, s := range cc.Servers {
		a, err := netip.ParseAddr(strings.Trim(s, "[]"))
		if err != nil {
			continue
		}
		out = append(out, netip.AddrPortFrom(a, uint16(port)))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dnsproxy: %s: no nameserver lines", path)
	}
	return out, nil
}

// Upstreams returns the upstream resolvers in use ("ip:port").
func (r *Resolver) Upstreams() []string { return append([]string(nil), r.ups.addrs...) }

// Flush drops every cached answer.
func (r *Resolver) Flush() { r.cache.flush() }

// LookupIP resolves host (A and AAAA, IPv4 first) through the upstreams,
// with the cache, negative caching and coalescing. Forbidden addresses
// (netguard) are dropped; when nothing is left the error is the
// *netguard.ForbiddenError. A name that does not exist or has no address
// gives an error wrapping ErrNotFound; failing upstreams one wrapping
// ErrUpstream. An IP literal is returned as is after the check.
func (r *Resolver) LookupIP(ctx context.Context, host string) ([]netip.Addr, error) {
	h, err := canon.ParseHost(host)
	if err != nil {
		return nil, fmt.Errorf("dnsproxy: %w: %w", err, ErrNotFound)
	}
	if ip, ok := h.Addr(); ok {
		if err := r.opts.Guard.CheckIP(ip); err != nil {
			return nil, err
		}
		return []netip.Addr{ip}, nil
	}
	name := h.String() + "."
	type res struct {
		addrs []netip.Addr
		err   error
	}
	ch := make(chan res, 1)
	go func() {
		a, _, err := r.lookupFamily(ctx, name, dns.TypeAAAA)
		ch <- res{a, err}
	}()
	v4, _, err4 := r.lookupFamily(ctx, name, dns.TypeA)
	v6 := <-ch
	out := append(v4, v6.addrs...)
	if len(out) > 0 {
		return out, nil
	}
	var ferr *netguard.ForbiddenError
	for _, e := range []error{err4, v6.err} {
		if errors.As(e, &ferr) {
			return nil, ferr
		}
	}
	for _, e := range []error{err4, v6.err} {
		if errors.Is(e, ErrUpstream) {
			return nil, fmt.Errorf("dnsproxy: resolve %s: %w", host, e)
		}
	}
	return nil, fmt.Errorf("dnsproxy: resolve %s: %w", host, ErrNotFound)
}

// lookupFamily resolves one address family (qtype A or AAAA) of name (a
// lower-case FQDN). It returns the permitted addresses and the time they
// may be cached; the error is a *netguard.ForbiddenError when every
// address was refused, or wraps ErrNotFound or ErrUpstream.
func (r *Resolver) lookupFamily(ctx context.Context, name string, qtype uint16) ([]netip.Addr, time.Duration, error) {
	res, err := r.lookup(ctx, name, qtype)
	if err != nil {
		return nil, 0, err
	}
	ttl := res.ttl(r.now())
	if res.negative || len(res.addrs) == 0 {
		return nil, ttl, fmt.Errorf("dnsproxy: %s %s: %w", strings.TrimSuffix(name, "."), dns.TypeToString[qtype], ErrNotFound)
	}
	out := make([]netip.Addr, 0, len(res.addrs))
	var ferr error
	for _, ip := range res.addrs {
		if err := r.opts.Guard.CheckIP(ip); err != nil {
			ferr = err
			continue
		}
		out = append(out, ip)
	}
	if len(out) == 0 {
		r.log.Warn("dns: refused every address of a resolved name", "name", strings.TrimSuffix(name, "."),
			"type", dns.TypeToString[qtype], "err", ferr)
		return nil, ttl, ferr
	}
	return out, ttl, nil
}

// lookup returns the (cached) upstream result for (name, qtype). Misses
// are coalesced: concurrent callers share one upstream exchange, which
// runs to its own deadline even when the first caller gives up.
func (r *Resolver) lookup(ctx context.Context, name string, qtype uint16) (lookupResult, error) {
	key := cacheKey{name, qtype}
	if res, ok := r.cache.get(key, r.now()); ok {
		r.metrics.cache.Add(ctx, 1, r.metrics.cacheHit)
		return res, nil
	}
	r.metrics.cache.Add(ctx, 1, r.metrics.miss)
	ch := r.flight.DoChan(dns.TypeToString[qtype]+" "+name, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.ups.budget())
		defer cancel()
		return r.query(fctx, key)
	})
	select {
	case v := <-ch:
		if v.Err != nil {
			return lookupResult{}, v.Err
		}
		return v.Val.(lookupResult), nil
	case <-ctx.Done():
		return lookupResult{}, fmt.Errorf("dnsproxy: %s: %w: %w", strings.TrimSuffix(name, "."), ErrUpstream, ctx.Err())
	}
}

// query asks the upstreams and caches the result.
func (r *Resolver) query(ctx context.Context, key cacheKey) (lookupResult, error) {
	m := new(dns.Msg)
	m.SetQuestion(key.name, key.qtype)
	m.SetEdns0(ednsSize, false)
	resp, err := r.ups.exchange(ctx, m)
	if err != nil {
		r.log.Debug("dns: upstream lookup failed", "name", key.name, "type", dns.TypeToString[key.qtype], "err", err)
		return lookupResult{}, fmt.Errorf("dnsproxy: %s %s: %w", strings.TrimSuffix(key.name, "."), dns.TypeToString[key.qtype], err)
	}
	now := r.now()
	addrs, ttl := addressesOf(resp, key.name, key.qtype)
	res := lookupResult{addrs: addrs}
	if len(addrs) == 0 {
		res.negative = true
		ttl = r.negativeTTL(resp)
	} else {
		ttl = min(max(ttl, r.minTTL), r.maxTTL)
	}
	res.expires = now.Add(ttl)
	if ttl > 0 {
		r.cache.put(key, res, now)
	}
	return res, nil
}

// negativeTTL is the RFC 2308 TTL of a negative answer (the smaller of
// the SOA's TTL and MINIMUM), capped by negative_ttl; without an SOA it is
// negative_ttl.
func (r *Resolver) negativeTTL(resp *dns.Msg) time.Duration {
	ttl := r.negTTL
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			s := time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
			ttl = min(ttl, s)
			break
		}
	}
	return max(ttl, 0)
}

// addressesOf collects the addresses of type qtype for name from the
// answer section, following CNAME chains from name (as recursive
// resolvers return them), and the smallest TTL on that path.
func addressesOf(resp *dns.Msg, name string, qtype uint16) ([]netip.Addr, time.Duration) {
	names := map[string]bool{strings.ToLower(name): true}
	minTTL := uint32(math.MaxUint32)
	for hops := 0; hops < 16; hops++ {
		grew := false
		for _, rr := range resp.Answer {
			c, ok := rr.(*dns.CNAME)
			if !ok || !names[strings.ToLower(c.Hdr.Name)] || names[strings.ToLower(c.Target)] {
				continue
			}
			names[strings.ToLower(c.Target)] = true
			minTTL = min(minTTL, c.Hdr.Ttl)
			grew = true
		}
		if !grew {
			break
		}
	}
	var out []netip.Addr
	for _, rr := range resp.Answer {
		var ip net.IP
		switch v := rr.(type) {
		case *dns.A:
			if qtype == dns.TypeA {
				ip = v.A
			}
		case *dns.AAAA:
			if qtype == dns.TypeAAAA {
				ip = v.AAAA
			}
		}
		if ip == nil || !names[strings.ToLower(rr.Header().Name)] {
			continue
		}
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			continue
		}
		if qtype == dns.TypeA {
			a = a.Unmap()
		}
		out = append(out, a)
		minTTL = min(minTTL, rr.Header().Ttl)
	}
	if len(out) == 0 {
		return nil, 0
	}
	return out, time.Duration(minTTL) * time.Second
}

// forward relays a client's query to the upstreams unchanged (but for its
// ID), for names under dns.forward_zones.
func (r *Resolver) forward(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.ups.budget())
	defer cancel()
	return r.ups.exchange(ctx, m)
}

// fqdn turns a host name into the lower-case FQDN used on the wire and as
// the cache key, or an error wrapping ErrNotFound for a name that is not
// a host name (package canon decides, as at every edge).
func fqdn(host string) (string, error) {
	h, err := canon.ParseHost(host)
	if err != nil {
		return "", fmt.Errorf("dnsproxy: %w: %w", err, ErrNotFound)
	}
	if h.IsIP() {
		return "", fmt.Errorf("dnsproxy: %s is an address, not a name: %w", host, ErrNotFound)
	}
	return h.String() + ".", nil
}
