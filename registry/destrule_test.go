package registry

import (
	"strings"
	"testing"
)

// namedDR is a DestinationRule named name in namespace ns that originates
// TLS with SNI sni for host.
func namedDR(name, ns, host, sni string) string {
	d := drDoc("  host: '" + host + "'\n  trafficPolicy: {tls: {mode: SIMPLE, sni: " + sni + "}}\n")
	return strings.Replace(strings.Replace(d, "name: dr,", "name: "+name+",", 1), "namespace: ns}", "namespace: "+ns+"}", 1)
}

// The rule for a host is the exact one, else the longest wildcard
// covering it, else one for "*"; among equals the entry's namespace wins.
func TestDestinationRuleChoice(t *testing.T) {
	s := mustBuild(t,
		namedSE("a", "  hosts: [a.example.com, b.x.example.com, c.other.org, '*.w.example.com', '*.v.example.com']\n"+port443),
		namedDR("any", "ns", "*", "any"),
		namedDR("wild", "ns", "*.example.com", "wild"),
		namedDR("wild-x", "ns", "*.x.example.com", "wild-x"),
		namedDR("exact", "ns", "a.example.com", "exact"),
		namedDR("pattern", "ns", "*.w.example.com", "pattern"),
		namedDR("pattern-other", "other", "*.w.example.com", "pattern-other"),
	)
	for host, want := range map[string]string{
		"a.example.com":     "exact",   // exact beats every wildcard
		"b.x.example.com":   "wild-x",  // the longest wildcard
		"c.other.org":       "any",     // only "*" covers it
		"q.w.example.com":   "pattern", // a declared pattern takes its own rules; the entry's namespace wins the tie
		"q.v.example.com":   "wild",    // a pattern is covered by a shorter wildcard
		"zz.v.example.com.": "wild",
	} {
		r, res := s.Lookup(mustHost(t, host), 443)
		if res != Declared || r.TLS == nil || r.TLS.SNI != want {
			t.Errorf("%s: got %v %+v, want the rule with SNI %s", host, res, r, want)
		}
	}
}

func TestDestinationRuleTieWarns(t *testing.T) {
	_, warns := findings(t,
		namedSE("a", "  hosts: [a.example.com]\n"+port443),
		namedDR("one", "x", "a.example.com", "one"),
		namedDR("two", "y", "a.example.com", "two"),
	)
	want := "spec.host: 2 DestinationRules apply to host a.example.com; using DestinationRule x/one"
	if len(warns) == 0 || warns[0] != want {
		t.Fatalf("warnings %q, want first %q", warns, want)
	}
}
