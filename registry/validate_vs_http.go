package registry

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// The checks of Istio's validateHTTPRoute (pkg/config/validation/
// virtualservice.go and validation.go at 86c9f01) for the HTTP features
// Sluice validates but does not apply: header edits, CORS, fault
// injection, mirroring, redirects, direct responses and rewrites, with
// Istio's messages; plus, in Sluice's wording, what Istio leaves to the
// CRD schema (enums, one-of groups, integer ranges, base64).

// Enums of the VirtualService CRD, spelt as the API server requires.
var (
	derivePortValues          = []string{"FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"}
	unmatchedPreflightsValues = []string{"UNSPECIFIED", "FORWARD", "IGNORE"}
)

// corsMethods are the methods Istio's supportedCORSMethods lists.
var corsMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*"}

// grpcStatuses are the names of Istio's grpc.SupportedGRPCStatus.
var grpcStatuses = []string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

// httpHeaderValueRegexp is Istio's: no control characters but tab.
var httpHeaderValueRegexp = regexp.MustCompile("^[^\u0000-\u0008\u000A-\u001F\u007F]*$")

// Istio's kb and mb, for direct response bodies.
const (
	bodyKB = 1024
	bodyMB = 1024 * bodyKB
)

// int32Range reports a value outside what the CRD's int32 allows.
func (c *checker) int32Range(field string, v int64) {
	if v < math.MinInt32 || v > math.MaxInt32 {
		c.errf(field, "%d is out of range -2147483648..2147483647", v)
	}
}

// headerOps is the header-manipulation part of Istio's validateHTTPRoute
// and validateHTTPRouteDestinations, for one Headers value.
func (c *checker) headerOps(f string, h *Headers) {
	if h == nil {
		return
	}
	if q := h.Request; q != nil {
		for _, name := range sortedKeys(q.Add) {
			c.headerErr(f+".request.add."+name, headerWithAuthorityOperationName(name))
			c.headerErr(f+".request.add."+name, headerValue(q.Add[name]))
		}
		for _, name := range sortedKeys(q.Set) {
			c.headerErr(f+".request.set."+name, headerWithAuthorityOperationName(name))
			c.headerErr(f+".request.set."+name, headerValue(q.Set[name]))
		}
		for i, name := range q.Remove {
			c.headerErr(fmt.Sprintf("%s.request.remove[%d]", f, i), headerOperationName(name))
		}
	}
	if p := h.Response; p != nil {
		for _, name := range sortedKeys(p.Add) {
			c.headerErr(f+".response.add."+name, headerOperationName(name))
			c.headerErr(f+".response.add."+name, headerValue(p.Add[name]))
		}
		for _, name := range sortedKeys(p.Set) {
			c.headerErr(f+".response.set."+name, headerOperationName(name))
			c.headerErr(f+".response.set."+name, headerValue(p.Set[name]))
		}
		for i, name := range p.Remove {
			c.headerErr(fmt.Sprintf("%s.response.remove[%d]", f, i), headerOperationName(name))
		}
	}
}

func (c *checker) headerErr(f string, err error) {
	if err != nil {
		c.errf(f, "%v", err)
	}
}

// isInternalHeader and isAuthorityHeader are Istio's.
func isInternalHeader(name string) bool {
	return strings.HasPrefix(name, ":") || strings.EqualFold(name, "host")
}

func isAuthorityHeader(name string) bool {
	return strings.EqualFold(name, ":authority") || strings.EqualFold(name, "host")
}

// headerWithAuthorityOperationName is Istio's
// ValidateHTTPHeaderWithAuthorityOperationName (request add and set).
func headerWithAuthorityOperationName(name string) error {
	if name == "" {
		return errors.New("header name cannot be empty")
	}
	if isInternalHeader(name) && !isAuthorityHeader(name) {
		return fmt.Errorf(`invalid header %q: header cannot have ":" prefix`, name)
	}
	return nil
}

// headerOperationName is Istio's ValidateHTTPHeaderOperationName.
func headerOperationName(name string) error {
	if name == "" {
		return errors.New("header name cannot be empty")
	}
	if strings.EqualFold(name, "host") {
		return fmt.Errorf(`invalid header %q: cannot set Host header`, name)
	}
	if isInternalHeader(name) {
		return fmt.Errorf(`invalid header %q: header cannot have ":" prefix`, name)
	}
	return nil
}

// headerValue is Istio's ValidateHTTPHeaderValue.
func headerValue(v string) error {
	if !httpHeaderValueRegexp.MatchString(v) {
		return fmt.Errorf("header value configuration %s is invalid", v)
	}
	if err := envoyHeaderValue(v); err != nil {
		return fmt.Errorf("header value configuration: %w", err)
	}
	return nil
}

// authorityRewrite is Istio's validateAuthorityRewrite: the authority is
// rewritten in one place at most.
func (c *checker) authorityRewrite(f string, rw *HTTPRewrite, h *Headers) {
	var current string
	if rw != nil {
		current = rw.Authority
	}
	if h == nil || h.Request == nil {
		return
	}
	for _, ops := range []map[string]string{h.Request.Set, h.Request.Add} {
		for _, k := range sortedKeys(ops) {
			if !isAuthorityHeader(k) {
				continue
			}
			if current != "" {
				c.errf(f+".headers", "authority header cannot be set multiple times: have %q, attempting to set %q", current, ops[k])
				return
			}
			current = ops[k]
		}
	}
}

// corsPolicy is Istio's validateCORSPolicy, plus the CRD's enum.
func (c *checker) corsPolicy(f string, p *CorsPolicy) {
	if p == nil {
		return
	}
	for i, o := range p.AllowOrigins {
		of := fmt.Sprintf("%s.allowOrigins[%d]", f, i)
		var match string
		if o != nil {
			c.oneOf(of, []string{"exact", "prefix", "regex"}, o.Exact != nil, o.Prefix != nil, o.Regex != nil)
			switch {
			case o.Exact != nil:
				match = *o.Exact
			case o.Prefix != nil:
				match = *o.Prefix
			case o.Regex != nil:
				match = *o.Regex
			}
		}
		if match == "" {
			c.errf(of, "'%v' is not a valid match type for CORS allow origins", match)
			continue
		}
		if o.Regex != nil {
			c.regex(of+".regex", *o.Regex, "corsPolicy.allowOrigins")
		}
	}
	for i, m := range p.AllowMethods {
		if !contains(corsMethods, m) {
			c.errf(fmt.Sprintf("%s.allowMethods[%d]", f, i), "%q is not a supported HTTP method", m)
		}
	}
	for i, h := range p.AllowHeaders {
		c.headerErr(fmt.Sprintf("%s.allowHeaders[%d]", f, i), corsHeaderName(h))
	}
	for i, h := range p.ExposeHeaders {
		c.headerErr(fmt.Sprintf("%s.exposeHeaders[%d]", f, i), corsHeaderName(h))
	}
	if p.MaxAge != "" {
		c.duration(f+".maxAge", p.MaxAge)
		if d, err := ParseDuration(p.MaxAge); err == nil && d%time.Second > 0 {
			c.errf(f+".maxAge", "max_age duration is accurate only to seconds precision")
		}
	}
	c.enum(f+".unmatchedPreflights", p.UnmatchedPreflights, unmatchedPreflightsValues)
}

// corsHeaderName is Istio's ValidateCORSHTTPHeaderName.
func corsHeaderName(name string) error {
	switch {
	case name == "":
		return errors.New("header name cannot be empty")
	case name == "*":
		return nil
	case !validHeaderName.MatchString(name):
		return fmt.Errorf("header name %s is not a valid header name", name)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// percentage is Istio's validatePercentage for a Percent.
func (c *checker) percentage(f string, p *Percent) {
	if p != nil && (p.Value < 0 || p.Value > 100 || p.Value > 0 && p.Value < 0.0001) {
		c.errf(f, "percentage %v is neither 0.0, nor in range [0.0001, 100.0]", p.Value)
	}
}

// httpStatus is Istio's validateHTTPStatus (its message says 599, its
// check allows 600).
func (c *checker) httpStatus(f string, status int64) {
	if status < 200 || status > 600 {
		c.errf(f, "HTTP status %d is not in range 200-599", status)
	}
}

// fault is Istio's validateHTTPFaultInjection, plus the CRD's one-of
// groups and int32 ranges.
func (c *checker) fault(f string, fi *HTTPFaultInjection) {
	if fi == nil {
		return
	}
	if fi.Abort == nil && fi.Delay == nil {
		c.errf(f, "HTTP fault injection must have an abort and/or a delay")
	}
	if a := fi.Abort; a != nil {
		af := f + ".abort"
		c.oneOf(af, []string{"httpStatus", "grpcStatus", "http2Error"}, a.HTTPStatus != nil, a.GRPCStatus != nil, a.HTTP2Error != nil)
		c.percentage(af+".percentage.value", a.Percentage)
		switch {
		case a.GRPCStatus != nil:
			if !contains(grpcStatuses, *a.GRPCStatus) {
				c.errf(af+".grpcStatus", "gRPC status %q is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md "+
					"for a list of supported codes, for example 'NOT_FOUND'", *a.GRPCStatus)
			}
		case a.HTTP2Error != nil:
			c.errf(af+".http2Error", "HTTP/2 abort fault injection not supported yet")
		case a.HTTPStatus != nil:
			c.int32Range(af+".httpStatus", *a.HTTPStatus)
			c.httpStatus(af+".httpStatus", *a.HTTPStatus)
		default:
			c.warnf(af, "abort configured, but error type not set")
		}
	}
	if d := fi.Delay; d != nil {
		df := f + ".delay"
		c.oneOf(df, []string{"fixedDelay", "exponentialDelay"}, d.FixedDelay != "", d.ExponentialDelay != "")
		c.percentage(df+".percentage.value", d.Percentage)
		if d.Percent != nil {
			c.int32Range(df+".percent", *d.Percent)
		}
		switch {
		case d.FixedDelay != "":
			c.duration(df+".fixedDelay", d.FixedDelay)
		case d.ExponentialDelay != "":
			c.duration(df+".exponentialDelay", d.ExponentialDelay)
			c.errf(df+".exponentialDelay", "exponentialDelay not supported yet")
		}
	}
}

// mirrors is Istio's mirror checks of validateHTTPRoute and
// validateHTTPMirrors.
func (c *checker) mirrors(f string, h *HTTPRoute) {
	for _, mp := range []struct {
		name string
		v    *int64
	}{{"mirrorPercent", h.MirrorPercent}, {"mirror_percent", h.MirrorPercentAlt}} {
		if mp.v == nil {
			continue
		}
		c.uint32Range(f+"."+mp.name, *mp.v)
		if *mp.v > 100 {
			c.errf(f+"."+mp.name, "mirror_percent must have a max value of 100 (it has %d)", *mp.v)
		}
		c.warnf(f+"."+mp.name, `using deprecated setting "mirrorPercent", use "mirrorPercentage" instead`)
	}
	if p := h.MirrorPercentage; p != nil {
		if p.Value > 100 {
			c.errf(f+".mirrorPercentage.value", "mirror_percentage must have a max value of 100 (it has %f)", p.Value)
		}
		if p.Value < 0 {
			c.errf(f+".mirrorPercentage.value", "mirror_percentage must have a min value of 0 (it has %f)", p.Value)
		}
	}
	c.destination(f+".mirror", h.Mirror)
	for i, m := range h.Mirrors {
		mf := fmt.Sprintf("%s.mirrors[%d]", f, i)
		switch {
		case m == nil:
			c.errf(mf, "mirror cannot be null")
			continue
		case m.Destination == nil:
			c.errf(mf+".destination", "destination is required for mirrors")
			continue
		}
		c.destination(mf+".destination", m.Destination)
		if p := m.Percentage; p != nil {
			if p.Value > 100 {
				c.errf(mf+".percentage.value", "mirror percentage must have a max value of 100 (it has %f)", p.Value)
			}
			if p.Value < 0 {
				c.errf(mf+".percentage.value", "mirror percentage must have a min value of 0 (it has %f)", p.Value)
			}
		}
	}
}

// redirect is Istio's validateHTTPRedirect (which stops at the first
// finding), after the CRD's one-of, enum and uint32 ranges.
func (c *checker) redirect(f string, r *HTTPRedirect, matches []HTTPMatchRequest) {
	if r == nil {
		return
	}
	c.oneOf(f, []string{"port", "derivePort"}, r.Port != nil, r.DerivePort != "")
	c.enum(f+".derivePort", r.DerivePort, derivePortValues)
	c.uint32Range(f+".redirectCode", r.RedirectCode)
	if r.Port != nil {
		c.uint32Range(f+".port", *r.Port)
	}
	if r.URI != "" && r.PrefixRewrite != "" {
		c.errf(f, "redirect may only specify one of uri or prefix_rewrite")
		return
	}
	if r.PrefixRewrite != "" {
		for _, m := range matches {
			if m.URI != nil && m.URI.Prefix == nil {
				c.errf(f+".prefixRewrite", "redirect prefix_rewrite requires all URI matches to use prefix match type")
				return
			}
		}
	}
	if r.URI == "" && r.PrefixRewrite == "" && r.Authority == "" && r.Port == nil && r.DerivePort == "" && r.Scheme == "" {
		c.errf(f, "redirect must specify URI, authority, scheme, or port")
		return
	}
	if r.RedirectCode != 0 && (r.RedirectCode < 300 || r.RedirectCode > 399) {
		c.errf(f+".redirectCode", "%d is not a valid redirect code, must be 3xx", r.RedirectCode)
		return
	}
	if r.Scheme != "" && r.Scheme != "http" && r.Scheme != "https" {
		c.errf(f+".scheme", `invalid redirect scheme, must be "http" or "https"`)
		return
	}
	if r.Port != nil && *r.Port > 0 && !validPort(int(*r.Port)) {
		c.errf(f+".port", "port number %d must be in the range 1..65535", *r.Port)
	}
}

// directResponse is Istio's validateHTTPDirectResponse, after the CRD's
// one-of, base64 and uint32 range.
func (c *checker) directResponse(f string, d *HTTPDirectResponse) {
	if d == nil {
		return
	}
	c.uint32Range(f+".status", d.Status)
	if b := d.Body; b != nil {
		c.oneOf(f+".body", []string{"string", "bytes"}, b.String != nil, b.Bytes != nil)
		size := 0
		switch {
		case b.String != nil:
			size = len(*b.String)
		case b.Bytes != nil:
			raw, err := base64.StdEncoding.DecodeString(*b.Bytes)
			if err != nil {
				c.errf(f+".body.bytes", "invalid base64 %q", *b.Bytes)
			}
			size = len(raw)
		}
		if size > bodyMB {
			c.errf(f+".body", "large direct_responses may impact control plane performance, must be less than 1MB")
		} else if size > 100*bodyKB {
			c.warnf(f+".body", "large direct_responses may impact control plane performance")
		}
	}
	c.httpStatus(f+".status", d.Status)
}

// rewrite is Istio's validateHTTPRewrite and validateURIRegexRewrite
// (which stop at the first finding). Istio joins the last finding to
// "UriRegexRewrite has errors" with a newline; Sluice with ": ", so that
// a finding stays on one line.
func (c *checker) rewrite(f string, rw *HTTPRewrite) {
	if rw == nil {
		return
	}
	if rw.URI != "" && rw.URIRegexRewrite != nil {
		c.errf(f, "rewrite may only contain one of URI or UriRegexRewrite")
		return
	}
	if rw.URI == "" && rw.URIRegexRewrite == nil && rw.Authority == "" {
		c.errf(f, "rewrite must specify at least one of URI, UriRegexRewrite, or authority. Only one of URI or UriRegexRewrite may be specified")
		return
	}
	if re := rw.URIRegexRewrite; re != nil {
		rf := f + ".uriRegexRewrite"
		if re.Match == "" || re.Rewrite == "" {
			c.errf(rf, "UriRegexRewrite has errors: %v", "UriRegexRewrite requires both Rewrite and Match fields to be specified")
			return
		}
		if err := regexErr(re.Match, "HTTPRewrite.UriRegexRewrite.Match"); err != nil {
			c.errf(rf+".match", "UriRegexRewrite has errors: %v", err)
		}
	}
}

// regexErr is Istio's validateStringRegexp.
func regexErr(re, where string) error {
	if len(re) > 1024 {
		return fmt.Errorf("%q: regex is too large, max length allowed is 1024", where)
	}
	if _, err := regexp.Compile(re); err != nil {
		return fmt.Errorf("%q: %w; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)", where, err)
	}
	return nil
}

// regex is Istio's validateStringMatchRegexp for a set regex.
func (c *checker) regex(f, re, where string) {
	if re == "" {
		c.errf(f, "%q: regex string match should not be empty", where)
		return
	}
	c.headerErr(f, regexErr(re, where))
}
