package registry

import (
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/lb"
)

// HTTPRule is one VirtualService http rule compiled for one route: what
// it matches, where it sends (weighted destinations, each a subset with
// its endpoints' labels and its traffic policy), its timeout and retries.
type HTTPRule struct {
	// Name is "namespace/virtualservice" and the rule's name, or its index
	// when it has none ("shop/api#1").
	Name    string        `json:"name"`
	Match   []HTTPMatch   `json:"match,omitempty"` // any of them; none: every request
	Dests   []RouteDest   `json:"route"`
	Timeout time.Duration `json:"timeout,omitempty"` // 0: none (Istio's default)
	Retry   Retry         `json:"retries"`
	total   int
}

// HTTPMatch is one match condition: every part set must match.
type HTTPMatch struct {
	URI     StrMatch      `json:"uri,omitzero"`
	Method  StrMatch      `json:"method,omitzero"`
	Headers []HeaderMatch `json:"headers,omitempty"`
	Port    int           `json:"port,omitempty"`
}

// HeaderMatch matches one request header; Name is canonical
// (http.CanonicalHeaderKey).
type HeaderMatch struct {
	Name  string   `json:"name"`
	Match StrMatch `json:"match"`
}

// StrMatch is an Istio StringMatch, compiled.
type StrMatch struct {
	Exact  string `json:"exact,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Regex  string `json:"regex,omitempty"`
	kind   uint8  // 0: absent, 1 exact, 2 prefix, 3 regex
	re     *regexp.Regexp
}

// Set reports whether the match is present.
func (m *StrMatch) Set() bool { return m.kind != 0 }

// Matches reports whether s matches; an absent match matches anything.
// Regexes match the whole string, as Envoy's safe_regex does.
func (m *StrMatch) Matches(s string, present bool) bool {
	switch m.kind {
	case 0:
		return true
	case 1:
		return present && s == m.Exact
	case 2:
		return present && strings.HasPrefix(s, m.Prefix)
	}
	return present && m.re.MatchString(s)
}

// RouteDest is one weighted destination of a rule.
type RouteDest struct {
	Subset  string            `json:"subset,omitempty"`
	Weight  int               `json:"weight"`
	Labels  map[string]string `json:"labels,omitempty"` // the subset's endpoint labels
	Traffic *lb.Config        `json:"trafficPolicy,omitempty"`
	Cluster string            `json:"cluster,omitempty"`
	// Port is destination.port when it names another port of the entry
	// (tls and tcp rules); DialPort is where that port is dialled.
	Port     int         `json:"port,omitempty"`
	DialPort int         `json:"-"`
	labels   [][2]string // Labels as a list: cheaper to test than to range over
}

// Selects reports whether an endpoint with labels have belongs to the
// destination's subset (every subset label, equal).
func (d *RouteDest) Selects(have map[string]string) bool {
	for _, kv := range d.labels {
		if v, ok := have[kv[0]]; !ok || v != kv[1] {
			return false
		}
	}
	return true
}

// Retry is a rule's retry policy (Istio's default when the rule has
// none: 2 attempts on connect-failure, refused-stream and 503).
type Retry struct {
	Attempts      int           `json:"attempts"`
	PerTryTimeout time.Duration `json:"perTryTimeout,omitempty"`
	On5xx         bool          `json:"on5xx,omitempty"`
	OnGateway     bool          `json:"onGatewayError,omitempty"`
	OnConnect     bool          `json:"onConnectFailure,omitempty"`
	OnReset       bool          `json:"onReset,omitempty"`
	Codes         []int         `json:"retriableStatusCodes,omitempty"`
}

// RetryStatus reports whether an upstream status is worth another
// attempt.
func (r *Retry) RetryStatus(code int) bool {
	switch {
	case r.On5xx && code >= 500:
		return true
	case r.OnGateway && code >= 502 && code <= 504:
		return true
	}
	for _, c := range r.Codes {
		if c == code {
			return true
		}
	}
	return false
}

// HTTPRequest is what a VirtualService rule matches on: the values the
// gateway computed once at its edge (the call's path, method and
// destination port, the same ones policy sees and the record keeps) and
// the request's headers.
type HTTPRequest struct {
	Path, Method string
	Port         int
	Header       http.Header
}

// SelectHTTP finds the first rule of the route matching r and draws its
// destination by weight. ok is false when the route has no VirtualService
// rule for r.
func (rt *Route) SelectHTTP(r HTTPRequest) (rule *HTTPRule, dest *RouteDest, ok bool) {
	for i := range rt.HTTP {
		h := &rt.HTTP[i]
		if !h.matches(&r) {
			continue
		}
		return h, pickDest(h.Dests, h.total), true
	}
	return nil, nil, false
}

func (h *HTTPRule) matches(r *HTTPRequest) bool {
	if len(h.Match) == 0 {
		return true
	}
	for i := range h.Match {
		m := &h.Match[i]
		if m.Port != 0 && m.Port != r.Port {
			continue
		}
		if !m.URI.Matches(r.Path, true) || !m.Method.Matches(r.Method, true) {
			continue
		}
		all := true
		for j := range m.Headers {
			v, present := r.Header[m.Headers[j].Name] // canonical since compiled
			s := ""
			if present && len(v) > 0 {
				s = v[0]
			}
			all = all && m.Headers[j].Match.Matches(s, present)
		}
		if all {
			return true
		}
	}
	return false
}
