package audit

import (
	"strings"

	"github.com/sluicehq/sluice/internal/config"
)

// bytesPerGiB is 2^30.
const bytesPerGiB = 1 << 30

// pricer prices a call from the cost config: the first meter (in config
// order) whose host, method and path prefix match gives the meter name and
// per-request price; cost.per_gib prices the bytes of every call.
type pricer struct {
	currency string
	perGiB   float64
	meters   []meter
}

type meter struct {
	name       string
	host       string // lower case; "*.domain" matches subdomains
	method     string // upper case; "" matches any
	pathPrefix string
	perRequest float64
}

func newPricer(c config.Cost) *pricer {
	p := &pricer{currency: c.Currency, perGiB: c.PerGiB}
	for _, m := range c.Meters {
		p.meters = append(p.meters, meter{
			name:       m.Name,
			host:       strings.ToLower(strings.TrimSuffix(m.Host, ".")),
			method:     strings.ToUpper(m.Method),
			pathPrefix: m.PathPrefix,
			perRequest: m.PerRequest,
		})
	}
	return p
}

// hostMatches reports whether host matches pattern: exactly, or as a
// subdomain of "*.domain" ("*.example.com" does not match example.com);
// "*" matches every host.
func hostMatches(pattern, host string) bool {
	if pattern == host || pattern == "*" {
		return true
	}
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok && strings.HasPrefix(suffix, ".") {
		return len(host) > len(suffix) && strings.HasSuffix(host, suffix)
	}
	return false
}

// match returns the first meter for r, or nil. r.Host is canonical (the
// edge made it so); the meters' hosts were lower-cased when loaded.
func (p *pricer) match(r *Record) *meter {
	for i := range p.meters {
		m := &p.meters[i]
		if !hostMatches(m.host, r.Host) {
			continue
		}
		if m.method != "" && !strings.EqualFold(m.method, r.Method) {
			continue
		}
		if !strings.HasPrefix(r.Path, m.pathPrefix) {
			continue
		}
		return m
	}
	return nil
}

// price sets r's Meter, Cost and Currency. Only calls that went out cost
// anything (Record.WentOut): allowed, or denied in report mode (not
// enforced), and not failed before reaching an upstream.
func (p *pricer) price(r *Record) {
	r.Currency = p.currency
	r.Meter, r.Cost = "", 0
	if !r.WentOut() {
		return
	}
	if m := p.match(r); m != nil {
		r.Meter, r.Cost = m.name, m.perRequest
	}
	if p.perGiB > 0 {
		r.Cost += p.perGiB * float64(r.BytesSent+r.BytesReceived) / bytesPerGiB
	}
}
