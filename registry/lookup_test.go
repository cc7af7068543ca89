package registry

import (
	"github.com/sluicehq/sluice/internal/canon"
	"strconv"
	"strings"
	"testing"
)

func mustBuild(t testing.TB, docs ...string) *Snapshot {
	t.Helper()
	res, ds, _ := Parse("test.yaml", []byte(strings.Join(docs, "\n---\n")))
	if len(ds.Errors()) > 0 {
		t.Fatal(ds.Errors())
	}
	s, ds := Build(res, BuildOptions{})
	if s == nil {
		t.Fatal(ds.Errors())
	}
	return s
}

func namedSE(name, spec string) string {
	return strings.Replace(seDoc(spec), "name: se,", "name: "+name+",", 1)
}

func TestLookup(t *testing.T) {
	s := mustBuild(t,
		namedSE("exact", "  hosts: [api.example.com]\n  resolution: DNS\n  ports: [{number: 443, name: https, protocol: HTTPS}, {number: 80, name: http, protocol: HTTP}]\n"),
		namedSE("wild", "  hosts: ['*.example.com']\n  ports: [{number: 443, name: https, protocol: HTTPS}, {number: 8443, name: alt, protocol: HTTPS}]\n"),
		namedSE("deeper", "  hosts: ['*.eu.example.com']\n  ports: [{number: 443, name: https, protocol: HTTPS}]\n"),
		namedSE("partial", "  hosts: ['*foo.org']\n  ports: [{number: 443, name: https, protocol: HTTPS}]\n"),
		namedSE("vip", "  hosts: [db.internal]\n  addresses: [203.0.113.7, 10.9.0.0/16, '2001:db8::7']\n  resolution: STATIC\n  endpoints: [{address: 10.9.0.5}]\n  ports: [{number: 5432, name: pg, protocol: TCP}]\n"),
	)
	tests := []struct {
		host   string
		port   int
		entry  string // "" = not declared
		result Result
	}{
		{"api.example.com", 443, "exact", Declared},
		{"API.Example.COM.", 443, "exact", Declared},       // case and trailing dot
		{"api.example.com", 8443, "wild", Declared},        // exact lacks the port: the wildcard declares it
		{"api.example.com", 22, "", UndeclaredPort},        // host known, port not
		{"www.example.com", 443, "wild", Declared},         // wildcard
		{"a.b.example.com", 443, "wild", Declared},         // wildcard covers deeper names
		{"x.eu.example.com", 443, "deeper", Declared},      // most specific wildcard wins
		{"x.eu.example.com", 8443, "wild", Declared},       // ...among those declaring the port
		{"example.com", 443, "", UndeclaredDestination},    // *.example.com does not match example.com
		{"eu.example.com", 443, "wild", Declared},          // *.example.com matches eu.example.com
		{"notexample.com", 443, "", UndeclaredDestination}, // suffix must start at a label
		{"barfoo.org", 443, "partial", Declared},           // partial wildcard (warned) matches by suffix
		{"foo.org", 443, "", UndeclaredDestination},        // ...but not the bare suffix
		{"other.net", 443, "", UndeclaredDestination},
		{"203.0.113.7", 5432, "vip", Declared},        // IP literal matches addresses
		{"10.9.3.3", 5432, "vip", Declared},           // ...and CIDRs
		{"[2001:db8::7]", 5432, "vip", Declared},      // IPv6 literal with brackets
		{"::ffff:203.0.113.7", 5432, "vip", Declared}, // IPv4-mapped form of a declared address
		{"203.0.113.7", 443, "", UndeclaredPort},
		{"203.0.113.8", 5432, "", UndeclaredDestination}, // IP literals never match by name
		{"93.184.216.34", 443, "", UndeclaredDestination},
	}
	for _, tc := range tests {
		r, res := s.Lookup(mustHost(t, tc.host), tc.port)
		got := ""
		if r != nil {
			got = r.Entry.Name
		}
		if got != tc.entry || res != tc.result {
			t.Errorf("Lookup(%q, %d) = %q %v, want %q %v", tc.host, tc.port, got, res, tc.entry, tc.result)
		}
	}
}

func TestMatchHost(t *testing.T) {
	s := mustBuild(t,
		namedSE("exact", "  hosts: [api.example.com]\n"+port443),
		namedSE("wild", "  hosts: ['*.example.com']\n"+port443),
	)
	for h, want := range map[string]string{"api.example.com.": "api.example.com", "x.example.com": "*.example.com", "example.com": "", "API.EXAMPLE.COM": "api.example.com"} {
		m, ok := s.MatchHost(mustHost(t, h))
		if m.Pattern != want || ok != (want != "") {
			t.Errorf("MatchHost(%q) = %q %v, want %q", h, m.Pattern, ok, want)
		}
	}
}

func TestTargets(t *testing.T) {
	s := mustBuild(t,
		namedSE("static", "  hosts: [db.corp]\n  resolution: STATIC\n  endpoints: [{address: 10.0.0.1}, {address: 10.0.0.2, ports: {http: 9090}}]\n  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}]\n"),
		namedSE("dns", "  hosts: [api.example.com]\n  resolution: DNS\n  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 443}]\n"),
		namedSE("dnsep", "  hosts: ['*.svc.example']\n  resolution: DNS\n  endpoints: [{address: lb.example.net}]\n  ports: [{number: 443, name: https, protocol: HTTPS}]\n"),
		namedSE("none", "  hosts: ['*.saas.example']\n  ports: [{number: 443, name: https, protocol: HTTPS}]\n"),
	)
	tests := []struct {
		host string
		port int
		want string
	}{
		{"db.corp", 80, "10.0.0.1:8080 10.0.0.2:9090"},
		{"api.example.com", 80, "api.example.com:443"},
		{"a.svc.example", 443, "lb.example.net:443"},
		{"t1.saas.example", 443, "t1.saas.example:443"},
	}
	for _, tc := range tests {
		r, res := s.Lookup(mustHost(t, tc.host), tc.port)
		if res != Declared {
			t.Fatalf("%s:%d not declared", tc.host, tc.port)
		}
		var parts []string
		for _, tg := range r.Targets(mustHost(t, tc.host)) {
			h := tg.Host
			if tg.IP.IsValid() {
				h = tg.IP.String()
			}
			parts = append(parts, h+":"+itoa(tg.Port))
		}
		if got := strings.Join(parts, " "); got != tc.want {
			t.Errorf("Targets(%s:%d) = %s, want %s", tc.host, tc.port, got, tc.want)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// mustHost is the canonical host the gateway's edge would pass in.
func mustHost(t testing.TB, s string) canon.Host {
	t.Helper()
	h, err := canon.ParseHost(s)
	if err != nil {
		t.Fatalf("canon.ParseHost(%q): %v", s, err)
	}
	return h
}
