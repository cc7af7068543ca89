package egress

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/canon"
	"github.com/sluicehq/sluice/internal/vocab"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/registry"
)

// Request is what the edge of a listener knows about a call, computed
// once there: the caller, the canonical destination, the request.
type Request struct {
	Listener string // vocab.Listener*
	Kind     string // vocab.Kind*
	Start    time.Time
	Identity Identity
	Method   string
	Host     canon.Host // the one canonical destination (docs/contract.md §2.1)
	Port     int
	Path     string
	Header   http.Header
	SNI      string // canonical; set for TLS destinations
}

// Decision is what the pipeline decided for a Request.
type Decision struct {
	Snapshot       *registry.Snapshot // the registry in force when decided
	Route          *registry.Route    // nil when undeclared and enforced
	TLSOrigination bool
	Denied         bool         // the call is refused
	Enforced       bool         // false when a denial was only reported
	Reason         vocab.Reason // deny reason (or would-deny reason in report mode)
	Detail         string       // human explanation
	PolicyRules    []string     // data.sluice.egress.reasons
	PolicyErr      error
}

// Decider is the one decision pipeline shared by every listener and by
// `sluice check`: identity → registry match → policy (docs/contract.md
// §1). It does no I/O of its own beyond asking its parts.
type Decider struct {
	Registry Registry
	Policy   Policy
	// ReportUndeclared is registry.mode: report (undeclared destinations
	// are allowed and recorded as would-deny).
	ReportUndeclared bool
	// IdentityRequired is identity.required.
	IdentityRequired bool
}

// Decide decides req.
func (d *Decider) Decide(ctx context.Context, req *Request) Decision {
	dec := Decision{Enforced: true, Snapshot: d.Registry.Snapshot()}
	if d.IdentityRequired && req.Identity.Source == vocab.IdentityNone {
		dec.deny(vocab.IdentityRequired, "the caller has no identity (mTLS, trusted XFCC, identity.sources or proxy auth)")
		return dec
	}
	route, res := dec.Snapshot.Lookup(req.Host, req.Port)
	if res != registry.Declared {
		reason, detail := undeclared(res, req)
		if !d.ReportUndeclared {
			dec.deny(reason, detail)
			return dec
		}
		dec.reportOnly(reason, detail)
		route = undeclaredRoute(req.Port)
	}
	dec.Route = route
	dec.TLSOrigination = req.Kind == vocab.KindHTTP && route.TLS != nil
	p := d.Policy.Decide(ctx, policyInput(req, &dec))
	dec.PolicyRules = p.Reasons
	switch {
	case p.Error != nil:
		dec.PolicyErr = p.Error
		dec.deny(vocab.PolicyError, p.Error.Error())
	case !p.Allow:
		dec.deny(vocab.PolicyDenied, policyDetail(p.Reasons))
	case !p.Enforced && dec.Reason == "":
		dec.reportOnly(vocab.PolicyDenied, policyDetail(p.Reasons))
	}
	return dec
}

// undeclared maps the registry's answer to the reason and its detail.
func undeclared(res registry.Result, req *Request) (vocab.Reason, string) {
	if res == registry.UndeclaredPort {
		return vocab.UndeclaredPort, "port " + itoa(req.Port) + " of " + req.Host.String() + " is not declared by its ServiceEntry"
	}
	return vocab.UndeclaredDestination, hostPort(req.Host, req.Port) + " is not declared by any ServiceEntry"
}

// deny refuses the call.
func (d *Decision) deny(reason vocab.Reason, detail string) {
	d.Denied, d.Enforced, d.Reason, d.Detail = true, true, reason, detail
}

// reportOnly records a would-deny without refusing (report modes).
func (d *Decision) reportOnly(reason vocab.Reason, detail string) {
	if d.Reason == "" {
		d.Enforced, d.Reason, d.Detail = false, reason, detail
	}
}

// Allowed reports whether the call may go out (a reported would-deny
// goes out).
func (d *Decision) Allowed() bool { return !d.Denied }

// RecordedDecision is the record's decision: deny for a refusal and for a
// reported would-deny.
func (d *Decision) RecordedDecision() string {
	if d.Denied || d.Reason != "" {
		return vocab.DecisionDeny
	}
	return vocab.DecisionAllow
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

// policyInput builds the policy input (docs/contract.md §5) of req as
// decided so far. Every field of policy.Input is set here, from req and
// dec only, so that the decision cache (keyed on the input) sees all of
// what the decision depends on.
func policyInput(req *Request, dec *Decision) *policy.Input {
	in := &policy.Input{
		Source:      policy.Source{Identity: req.Identity.ID, IdentitySource: req.Identity.Source, Workload: req.Identity.Workload},
		Destination: policy.Destination{Host: req.Host.String(), Port: req.Port},
		Request: policy.Request{Kind: req.Kind, Method: req.Method, Path: req.Path, SNI: req.SNI, TLSOrigination: dec.TLSOrigination,
			Headers: lowerHeaders(req.Header)},
		Time: req.Start.UTC(),
	}
	if req.Identity.IP.IsValid() {
		in.Source.IP = req.Identity.IP.String()
	}
	if dec.Route != nil && dec.Route.Entry != nil && dec.Route.Entry.Name != "" {
		e := dec.Route.Entry
		in.Destination.ServiceEntry = &policy.ServiceEntryRef{Name: e.Name, Namespace: e.Namespace,
			Protocol: string(dec.Route.Port.Protocol), Labels: e.Labels, Annotations: e.Annotations}
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
