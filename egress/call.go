package egress

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/canon"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/registry"
)

// Listener names, as recorded.
const (
	ListenerProxy = "proxy"
	ListenerHTTP  = "http"
	ListenerTLS   = "tls"
	ListenerCheck = "check"
)

// Call kinds, as in the policy input and the record.
const (
	KindHTTP    = "http"
	KindConnect = "connect"
	KindTLS     = "tls"
)

// call is one outbound call on its way through the pipeline: who, where,
// what was decided, and the audit record that follows it.
type call struct {
	listener string
	kind     string
	start    time.Time
	id       Identity
	method   string
	host     canon.Host // the one canonical destination, parsed at the edge
	port     int
	// scheme and defPort are the caller's scheme for HTTP calls ("http",
	// or "https" for an https:// absolute URI) and its default port.
	scheme  string
	defPort int
	path    string
	header  http.Header
	sni     string
	traceID string

	snap    *registry.Snapshot
	route   *registry.Route
	tlsOrig bool
	// plan holds the checked addresses an allowed call may dial, found
	// before its record is committed; planErr why there are none (a
	// resolution failure: the call is allowed, recorded, and fails).
	plan    *dialPlan
	planErr error
	// upScheme and upPort are where a forwarded HTTP request went (the
	// span's url.full); empty when it was not forwarded.
	upScheme string
	upPort   int

	// Decision.
	denied        bool     // the call is refused
	enforced      bool     // false when a denial was only reported
	reason        string   // deny reason (or would-deny reason in report mode)
	detail        string   // human explanation
	policyReasons []string // data.sluice.egress.reasons
	policyErr     error

	rec *audit.Record
}

// decide runs the one decision pipeline shared by every listener and by
// `sluice check`: identity → registry match → policy. It sets c.denied,
// c.reason and c.detail; it does not record or answer.
func (g *Gateway) decide(ctx context.Context, c *call) {
	c.enforced = true
	c.snap = g.reg.Snapshot()
	if g.cfg.Identity.Required && c.id.Source == IdentityNone {
		c.deny(ReasonIdentityRequired, "the caller has no identity (mTLS, trusted XFCC, identity.sources or proxy auth)")
		return
	}
	route, res := c.snap.Lookup(c.host, c.port)
	if res != registry.Declared {
		detail := hostPort(c.host, c.port) + " is not declared by any ServiceEntry"
		if res == registry.UndeclaredPort {
			detail = "port " + itoa(c.port) + " of " + c.host.String() + " is not declared by its ServiceEntry"
		}
		if g.cfg.Registry.Mode != "report" {
			c.deny(res.String(), detail)
			return
		}
		c.reportOnly(res.String(), detail)
		route = undeclaredRoute(c.port)
	}
	c.route = route
	c.tlsOrig = c.kind == KindHTTP && route.TLS != nil
	d := g.pol.Decide(ctx, c.policyInput())
	c.policyReasons = d.Reasons
	switch {
	case d.Error != nil:
		c.policyErr = d.Error
		c.deny(ReasonPolicyError, d.Error.Error())
	case !d.Allow:
		c.deny(ReasonPolicyDenied, policyDetail(d.Reasons))
	case !d.Enforced && c.reason == "":
		c.reportOnly(ReasonPolicyDenied, policyDetail(d.Reasons))
	}
}

// authority is the destination as an HTTP caller of c's scheme writes
// it: the canonical host, with the port unless it is the default.
func (c *call) authority() string {
	if c.port == c.defPort {
		return c.host.Bracketed()
	}
	return hostPort(c.host, c.port)
}

func (c *call) deny(reason, detail string) {
	c.denied, c.enforced, c.reason, c.detail = true, true, reason, detail
}

// reportOnly records a would-deny without refusing (report modes).
func (c *call) reportOnly(reason, detail string) {
	if c.reason == "" {
		c.enforced, c.reason, c.detail = false, reason, detail
	}
}

func policyDetail(reasons []string) string {
	if len(reasons) == 0 {
		return "denied by policy"
	}
	return "denied by policy: " + strings.Join(reasons, "; ")
}

// undeclaredRoute is what an undeclared destination dials in registry
// report mode: the requested name, resolved and checked like any answer.
func undeclaredRoute(port int) *registry.Route {
	return &registry.Route{Entry: &registry.Entry{Resolution: registry.ResolutionNone}, Port: registry.Port{Number: port}}
}

// policyInput builds the DESIGN section 5 input.
func (c *call) policyInput() *policy.Input {
	in := &policy.Input{
		Source:      policy.Source{Identity: c.id.ID, IdentitySource: c.id.Source, Workload: c.id.Workload},
		Destination: policy.Destination{Host: c.host.String(), Port: c.port},
		Request: policy.Request{Kind: c.kind, Method: c.method, Path: c.path, SNI: c.sni, TLSOrigination: c.tlsOrig,
			Headers: lowerHeaders(c.header)},
		Time: c.start.UTC(),
	}
	if c.id.IP.IsValid() {
		in.Source.IP = c.id.IP.String()
	}
	if c.route != nil && c.route.Entry != nil && c.route.Entry.Name != "" {
		e := c.route.Entry
		in.Destination.ServiceEntry = &policy.ServiceEntryRef{Name: e.Name, Namespace: e.Namespace,
			Protocol: string(c.route.Port.Protocol), Labels: e.Labels, Annotations: e.Annotations}
	}
	return in
}

// lowerHeaders copies h with lower-case keys, minus credentials that
// policy has no business seeing.
func lowerHeaders(h http.Header) map[string][]string {
	if len(h) == 0 {
		return map[string][]string{}
	}
	out := make(map[string][]string, len(h))
	for k, v := range h {
		switch k {
		case "Authorization", "Proxy-Authorization", "Cookie":
			continue
		}
		out[strings.ToLower(k)] = v
	}
	return out
}

// record builds the audit record of the decision.
func (c *call) record() *audit.Record {
	r := &audit.Record{
		TimeStart: c.start, Event: audit.EventOutboundCall,
		SourceIdentity: c.id.ID, IdentitySource: c.id.Source, SourceWorkload: c.id.Workload,
		Listener: c.listener, Kind: c.kind, Method: c.method, Host: c.host.String(), Port: c.port, Path: c.path, SNI: c.sni,
		TLSOriginated: c.tlsOrig, Decision: audit.DecisionAllow, Enforced: c.enforced, Reason: c.reason,
		PolicyRules: c.policyReasons, TraceID: c.traceID,
	}
	if c.id.IP.IsValid() {
		r.SourceIP = c.id.IP.String()
	}
	if c.denied || c.reason != "" {
		r.Decision = audit.DecisionDeny
	}
	if c.route != nil && c.route.Entry != nil && c.route.Entry.Name != "" {
		r.ServiceEntry = c.route.Entry.ID()
	}
	if c.reason != "" && c.detail != "" && c.denied {
		r.Error = c.detail
	}
	c.rec = r
	return r
}

// begin commits the decision record before anything is dialled. The
// returned error means the call must be refused (audit_unavailable).
func (g *Gateway) begin(ctx context.Context, c *call) error {
	rec := c.record()
	if err := g.aud.Begin(ctx, rec); err != nil {
		if g.aud.OnFailureDeny() {
			return err
		}
		g.log.Warn("audit record not written; call allowed (audit.on_failure: allow)", "host", c.host.String(), "err", err)
	}
	return nil
}

// unrecordable marks a call refused because its decision record could not
// be written (audit.on_failure: deny): there is no record, so the refusal
// shows in the metrics, the span and the access log instead.
func (g *Gateway) unrecordable(ctx context.Context, c *call, err error) {
	c.deny(ReasonAuditUnavailable, "the audit store cannot record this call: "+err.Error())
	g.metrics.request(ctx, c.listener, audit.DecisionDeny, ReasonAuditUnavailable, time.Since(c.start))
	g.accessLog(c, statusFor(c.reason), 0, 0)
}

// refuse writes the whole record of a denied call.
func (g *Gateway) refuse(ctx context.Context, c *call) {
	g.refuseWith(ctx, c, statusFor(c.reason), 1)
}

// refuseWith records count identical denials answered with status.
func (g *Gateway) refuseWith(ctx context.Context, c *call, status, count int) {
	rec := c.record()
	rec.TimeEnd = time.Now()
	rec.Status = status
	if count > 1 {
		rec.Count = count
	}
	if err := g.aud.Complete(ctx, rec); err != nil {
		g.log.Error("audit record of a denial not written", "host", c.host.String(), "reason", c.reason, "err", err)
	}
	g.metrics.request(ctx, c.listener, audit.DecisionDeny, c.reason, time.Since(c.start))
	g.accessLog(c, rec.Status, 0, 0)
}

// finish records the outcome of an allowed call.
func (g *Gateway) finish(ctx context.Context, c *call, status int, sent, received int64, dialed, tlsVersion string, err error) {
	rec := c.rec
	rec.TimeEnd = time.Now()
	rec.Status = status
	rec.BytesSent, rec.BytesReceived = sent, received
	rec.DialedIP, rec.TLSVersion = dialed, tlsVersion
	reason := ""
	if err != nil {
		reason = classify(err)
		rec.Error = reason + ": " + err.Error()
		if rec.Reason == "" {
			rec.Reason = reason
		}
	}
	g.aud.End(rec)
	decision := audit.DecisionAllow
	if c.reason != "" {
		decision = audit.DecisionDeny // reported, not enforced
		reason = c.reason
	}
	g.metrics.request(ctx, c.listener, decision, reason, time.Since(c.start))
	g.metrics.bytes(ctx, sent, received)
	g.accessLog(c, status, sent, received)
}

// accessLog writes one line per call when log.access is on.
func (g *Gateway) accessLog(c *call, status int, sent, received int64) {
	if !g.cfg.Log.Access {
		return
	}
	id := ""
	if c.rec != nil {
		id = c.rec.ID
	}
	g.log.Info("access", "id", id, "listener", c.listener, "kind", c.kind, "source", c.id.IP.String(), "identity", c.id.ID,
		"method", c.method, "host", c.host.String(), "port", c.port, "path", c.path, "status", status, "reason", c.reason,
		"sent", sent, "received", received, "duration_ms", time.Since(c.start).Milliseconds())
}

// resolve finds where an allowed call may be dialled, before its record
// is committed: every address is checked here, so a refused one
// (forbidden_address) makes the call a denial, recorded as one. Any other
// failure to find an address is kept in c.planErr: the call was allowed,
// its record is begun, and it ends with that error.
func (g *Gateway) resolve(ctx context.Context, c *call) {
	p, err := g.dialer.resolve(ctx, c.host, c.route.Targets(c.host), c.route.Entry.Name == "")
	switch {
	case err == nil:
		c.plan = p
	case classify(err) == ReasonForbiddenAddress:
		c.deny(ReasonForbiddenAddress, err.Error())
	default:
		c.planErr = err
	}
}
