package egress

import (
	"context"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/vocab"
)

// call is one outbound call on its way through the pipeline: the edge's
// Request, the Decision, where it may be dialled, and the audit record
// that follows it. newCall is its one constructor.
type call struct {
	Request
	Decision

	// scheme and defPort are the caller's scheme for HTTP calls ("http",
	// or "https" for an https:// absolute URI) and its default port.
	scheme  string
	defPort int
	traceID string
	// plan holds the checked addresses an allowed call may dial, found
	// before its record is committed; planErr why there are none (a
	// resolution failure: the call is allowed, recorded, and fails).
	plan    *dialPlan
	planErr error
	// upScheme and upPort are where a forwarded HTTP request went (the
	// span's url.full); empty when it was not forwarded.
	upScheme string
	upPort   int
	// query is the query string of a checked URL (sluice check).
	query string
	// tunnel is the pool place and endpoint of a tunnel on a route with
	// a traffic policy, released when the call ends.
	tunnel *balanced
	// l4 is the VirtualService tls or tcp rule that routes a tunnel.
	l4 *l4Route

	rec *audit.Record
}

// newCall starts the call of req: the one place a call is made, so every
// listener fills the same Request and nothing else.
func newCall(req Request) *call {
	if req.Start.IsZero() {
		req.Start = time.Now()
	}
	if req.Identity.Source == "" {
		req.Identity.Source = vocab.IdentityNone
	}
	return &call{Request: req, Decision: Decision{Enforced: true}}
}

// authority is the destination as an HTTP caller of c's scheme writes
// it: the canonical host, with the port unless it is the default.
func (c *call) authority() string {
	if c.Port == c.defPort {
		return c.Host.Bracketed()
	}
	return hostPort(c.Host, c.Port)
}

// decide runs the pipeline's decision for c.
func (g *Gateway) decide(ctx context.Context, c *call) {
	c.Decision = g.decider.Decide(ctx, &c.Request)
}

// record builds the audit record of the decision.
func (c *call) record() *audit.Record {
	r := &audit.Record{
		TimeStart: c.Start, Event: vocab.EventOutboundCall,
		SourceIdentity: c.Identity.ID, IdentitySource: c.Identity.Source, SourceWorkload: c.Identity.Workload,
		Listener: c.Listener, Kind: c.Kind, Method: c.Method, Host: c.Host.String(), Port: c.Port, Path: c.Path, SNI: c.SNI,
		TLSOriginated: c.TLSOrigination, Decision: c.RecordedDecision(), Enforced: c.Enforced, Reason: string(c.Reason),
		PolicyRules: c.PolicyRules, TraceID: c.traceID,
	}
	if c.Identity.IP.IsValid() {
		r.SourceIP = c.Identity.IP.String()
	}
	if c.Route != nil && c.Route.Entry != nil && c.Route.Entry.Name != "" {
		r.ServiceEntry = c.Route.Entry.ID()
	}
	if c.Reason != "" && c.Detail != "" && c.Denied {
		r.Error = c.Detail
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
		g.log.Warn("audit record not written; call allowed (audit.on_failure: allow)", "host", c.Host.String(), "err", err)
	}
	return nil
}

// unrecordable marks a call refused because its decision record could not
// be written (audit.on_failure: deny): there is no record, so the refusal
// shows in the metrics, the span and the access log instead.
func (g *Gateway) unrecordable(ctx context.Context, c *call, err error) {
	c.deny(vocab.AuditUnavailable, "the audit store cannot record this call: "+err.Error())
	g.metrics.request(ctx, c.Listener, vocab.DecisionDeny, vocab.AuditUnavailable, time.Since(c.Start))
	g.accessLog(c, c.Reason.Status(), 0, 0)
}

// refuse writes the whole record of a denied call.
func (g *Gateway) refuse(ctx context.Context, c *call) {
	g.refuseWith(ctx, c, c.Reason.Status(), 1)
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
		g.log.Error("audit record of a denial not written", "host", c.Host.String(), "reason", c.Reason, "err", err)
	}
	g.metrics.request(ctx, c.Listener, vocab.DecisionDeny, c.Reason, time.Since(c.Start))
	g.accessLog(c, rec.Status, 0, 0)
}

// finish records the outcome of an allowed call.
func (g *Gateway) finish(ctx context.Context, c *call, status int, sent, received int64, dialed, tlsVersion string, err error) {
	if c.tunnel != nil {
		c.tunnel.end(0, nil)
		c.tunnel = nil
	}
	rec := c.rec
	rec.TimeEnd = time.Now()
	rec.Status = status
	rec.BytesSent, rec.BytesReceived = sent, received
	rec.DialedIP, rec.TLSVersion = dialed, tlsVersion
	var reason vocab.Reason
	if err != nil {
		reason = classify(err)
		rec.Error = string(reason) + ": " + err.Error()
		if rec.Reason == "" {
			rec.Reason = string(reason)
		}
	}
	g.aud.End(rec)
	if c.Reason != "" {
		reason = c.Reason // reported, not enforced
	}
	g.metrics.request(ctx, c.Listener, c.RecordedDecision(), reason, time.Since(c.Start))
	g.metrics.bytes(ctx, sent, received)
	g.accessLog(c, status, sent, received)
}

// accessLog writes one line per call when log.access is on.
//
// The record goes to the handler directly: Logger.LogAttrs would first
// find its caller's program counter (runtime.Callers), which only a
// handler with AddSource reads and the access log's never has (logx.New),
// a measurable share of the line's cost at the end of a tunnel, when the
// unwinder's tables are cold (#18). The line is the same.
func (g *Gateway) accessLog(c *call, status int, sent, received int64) {
	if !g.cfg.Log.Access {
		return
	}
	ctx := context.Background()
	h := g.access.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	id := ""
	if c.rec != nil {
		id = c.rec.ID
	}
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "access", 0)
	// Typed attributes: slog skips converting fifteen key-value pairs per
	// call (a measurable share of the access log's cost, #18).
	r.AddAttrs(slog.String("id", id), slog.String("listener", c.Listener),
		slog.String("kind", c.Kind), slog.String("source", c.Identity.IP.String()), slog.String("identity", c.Identity.ID),
		slog.String("method", c.Method), slog.String("host", c.Host.String()), slog.Int("port", c.Port), slog.String("path", c.Path),
		slog.Int("status", status), slog.String("reason", string(c.Reason)), slog.Int64("sent", sent), slog.Int64("received", received),
		slog.Int64("duration_ms", time.Since(c.Start).Milliseconds()))
	_ = h.Handle(ctx, r)
}

// resolve finds where an allowed call may be dialled, before its record
// is committed: every address is checked here, so a refused one
// (forbidden_address) makes the call a denial, recorded as one. Any other
// failure to find an address is kept in c.planErr: the call was allowed,
// its record is begun, and it ends with that error.
func (g *Gateway) resolve(ctx context.Context, c *call) {
	p, err := g.dialer.resolve(ctx, c.Host, c.Route.Targets(c.Host), c.Route.Entry.Name == "")
	switch {
	case err == nil:
		c.plan = p
	case classify(err) == vocab.ForbiddenAddress:
		c.deny(vocab.ForbiddenAddress, err.Error())
	default:
		c.planErr = err
	}
}
