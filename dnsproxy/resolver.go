package dnsproxy

// STUB: replaced by the DNS work. Keeps the contract of contract.go so that
// the rest of Sluice builds meanwhile.

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/netguard"
	"go.opentelemetry.io/otel/metric"
)

// Errors of LookupIP.
var (
	ErrNotFound = errors.New("dns: name not found")
	ErrUpstream = errors.New("dns: upstreams failed")
)

// ResolverOptions configure the gateway's resolver.
type ResolverOptions struct {
	// Upstreams are the resolvers to ask; empty means /etc/resolv.conf.
	Upstreams     []netip.AddrPort
	Timeout       time.Duration
	Cache         config.DNSCache
	Guard         *netguard.Guard
	Logger        *slog.Logger
	MeterProvider metric.MeterProvider
}

// Resolver is the gateway's own resolver.
type Resolver struct{ opts ResolverOptions }

// NewResolver returns a resolver.
func NewResolver(opts ResolverOptions) *Resolver { return &Resolver{opts: opts} }

// LookupIP resolves host, dropping forbidden addresses.
func (r *Resolver) LookupIP(ctx context.Context, host string) ([]netip.Addr, error) {
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, errors.Join(ErrNotFound, err)
	}
	var out []netip.Addr
	var ferr error
	for _, ip := range ips {
		if err := r.opts.Guard.CheckIP(ip); err != nil {
			ferr = err
			continue
		}
		out = append(out, ip.Unmap())
	}
	if len(out) == 0 && ferr != nil {
		return nil, ferr
	}
	return out, nil
}
