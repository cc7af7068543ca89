package registry

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The warnings of Istio's analyzeUnreachableHTTPRules,
// analyzeUnreachableTCPRules and analyzeUnreachableTLSRules
// (pkg/config/validation/validation.go at 86c9f01): a rule after one
// without matches, a rule whose every match an earlier rule already has,
// and a match an earlier one (equal, or a prefix that covers it) takes
// first. They are Istio's VirtualServiceUnreachableRule and
// VirtualServiceIneffectiveMatch, with Istio's messages.

// unreachableRules warns about the rules and matches of vs that can
// never be taken.
func (c *checker) unreachableRules(vs *VirtualServiceSpec) {
	unused := func(f, rule, reason string) {
		c.warnf(f, "virtualService rule %v not used (%s)", rule, reason)
	}
	ineffective := func(f, rule, match, dup string) {
		c.warnf(f, "virtualService rule %v match %v is not used (duplicate/overlapping match in rule %v)", rule, match, dup)
	}
	var prefixes []*prefixMatch
	analyze(len(vs.HTTP), "spec.http",
		func(i int) int { return len(vs.HTTP[i].Match) },
		func(i, j int) string { m := vs.HTTP[i].Match[j]; m.Name = ""; return matchKey(m) },
		func(i int) string { return httpRuleName(&vs.HTTP[i], i) },
		func(i, j int) string {
			if n := vs.HTTP[i].Match[j].Name; n != "" {
				return fmt.Sprintf("%q", n)
			}
			return fmt.Sprintf("#%d", j)
		},
		func(i, j int) {
			if p := newPrefixMatch(&vs.HTTP[i], i, j); p != nil {
				prefixes = append(prefixes, p)
			}
		}, unused, ineffective)
	// A prefix match taken first by an earlier one that covers it.
	for a, pa := range prefixes {
		for _, pb := range prefixes[a+1:] {
			if pb.prefix != pa.prefix && pa.covers(pb) {
				ineffective(pb.field, pb.rule, pb.match+" of prefix "+pb.prefix, pa.match+" of prefix "+pa.prefix+" on "+pa.rule)
			}
		}
	}
	number := func(i int) string { return fmt.Sprintf("#%d", i) }
	analyze(len(vs.TCP), "spec.tcp",
		func(i int) int { return len(vs.TCP[i].Match) },
		func(i, j int) string { return matchKey(vs.TCP[i].Match[j]) },
		number, func(_, j int) string { return number(j) }, nil, unused, ineffective)
	analyze(len(vs.TLS), "spec.tls",
		func(i int) int { return len(vs.TLS[i].Match) },
		func(i, j int) string { return matchKey(vs.TLS[i].Match[j]) },
		number, func(_, j int) string { return number(j) }, nil, unused, ineffective)
}

// analyze is the loop the three analyzeUnreachable functions share, over
// n rules: matches(i) is how many matches rule i has, key(i, j) what
// match j of rule i matches, ruleName and matchName what the messages
// call them, and kept(i, j) is told of every match not seen before (nil:
// not needed).
func analyze(n int, list string, matches func(i int) int, key func(i, j int) string, ruleName func(i int) string,
	matchName func(i, j int) string, kept func(i, j int), unused func(f, rule, reason string), ineffective func(f, rule, match, dup string)) {
	seen := map[string]int{}
	emptyAt := -1
	for i := 0; i < n; i++ {
		f := fmt.Sprintf("%s[%d]", list, i)
		if matches(i) == 0 {
			if emptyAt >= 0 {
				unused(f, ruleName(i), "only the last rule can have no matches")
			}
			emptyAt = i
			continue
		}
		dups := 0
		for j := 0; j < matches(i); j++ {
			if emptyAt >= 0 {
				unused(f, ruleName(i), "route without matches defined before")
				continue
			}
			k := key(i, j)
			if d, ok := seen[k]; ok {
				ineffective(fmt.Sprintf("%s.match[%d]", f, j), ruleName(i), matchName(i, j), ruleName(d))
				dups++
				continue
			}
			seen[k] = i
			if kept != nil {
				kept(i, j)
			}
		}
		if dups == matches(i) {
			unused(f, ruleName(i), "all matches used by prior rules")
		}
	}
}

// matchKey is Istio's asJSON: what a match matches, as comparable text.
func matchKey(m any) string {
	b, err := json.Marshal(m)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// httpRuleName is Istio's routeName for an http rule.
func httpRuleName(h *HTTPRoute, i int) string {
	if h.Name != "" {
		return fmt.Sprintf("%q", h.Name)
	}
	return fmt.Sprintf("#%d", i)
}

// prefixMatch is Istio's OverlappingMatchValidationForHTTPRoute: a match
// on a URI prefix and what else it requires.
type prefixMatch struct {
	field, rule, match string
	prefix             string
	port               int64
	method, authority  string
	headers, query     map[string]string
	without            map[string]string
}

// newPrefixMatch is Istio's genMatchHTTPRoutes: nil unless match j of
// rule i has a non-empty URI prefix. A match without a method counts as
// one on GET, as in Istio.
func newPrefixMatch(h *HTTPRoute, i, j int) *prefixMatch {
	m := h.Match[j]
	if m.URI == nil || m.URI.Prefix == nil || *m.URI.Prefix == "" {
		return nil
	}
	p := &prefixMatch{field: fmt.Sprintf("spec.http[%d].match[%d]", i, j), rule: httpRuleName(h, i), prefix: *m.URI.Prefix, port: m.Port,
		method: exactOrPrefix(m.Method), authority: exactOrPrefix(m.Authority),
		headers: exactOrPrefixes(m.Headers), query: exactOrPrefixes(m.QueryParams), without: exactOrPrefixes(m.WithoutHeaders)}
	p.match = fmt.Sprintf("#%d", j)
	if m.Name != "" {
		p.match = fmt.Sprintf("%q", m.Name)
	}
	if p.method == "" {
		p.method = "exact:GET"
	}
	return p
}

// exactOrPrefix is Istio's assignExactOrPrefix.
func exactOrPrefix(sm *StringMatch) string {
	switch {
	case sm == nil:
		return ""
	case sm.Exact != nil && *sm.Exact != "":
		return "exact:" + *sm.Exact
	case sm.Prefix != nil && *sm.Prefix != "":
		return "prefix:" + *sm.Prefix
	}
	return ""
}

func exactOrPrefixes(ms map[string]*StringMatch) map[string]string {
	out := make(map[string]string, len(ms))
	for k, sm := range ms {
		out[k] = exactOrPrefix(sm)
	}
	return out
}

// covers is Istio's coveredValidation: every request b matches, a
// matches too.
func (a *prefixMatch) covers(b *prefixMatch) bool {
	if !strings.HasPrefix(b.prefix, a.prefix) || a.port != b.port {
		return false
	}
	if a.method != b.method && !strings.HasPrefix(a.method, b.method) {
		return false
	}
	if a.authority != b.authority && !strings.HasPrefix(a.authority, b.authority) {
		return false
	}
	return mapCovers(a.headers, b.headers) && mapCovers(a.query, b.query) && mapCovers(a.without, b.without)
}

// mapCovers is coveredValidation's test of one map: the same keys, each
// value of a equal to b's or starting with it.
func mapCovers(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || v != w && !strings.HasPrefix(v, w) {
			return false
		}
	}
	return true
}
