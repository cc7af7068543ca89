package registry

import (
	"github.com/sluicehq/sluice/internal/canon"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the YAML loader and the validator:
// they may reject the input, never panic; a built snapshot always answers
// lookups for its own hosts.
func FuzzParse(f *testing.F) {
	f.Add([]byte(seDoc("  hosts: [api.example.com]\n  resolution: DNS\n" + port443)))
	f.Add([]byte(seDoc("  hosts: ['*.example.com']\n  addresses: [10.0.0.0/8]\n  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 443}]\n") + "---\n" +
		drDoc("  host: '*.example.com'\n  trafficPolicy: {portLevelSettings: [{port: {number: 80}, tls: {mode: SIMPLE, sni: x}}]}\n")))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems: [{apiVersion: networking.istio.io/v1, kind: ServiceEntry, metadata: {name: a}, spec: {hosts: [a.b]}}]\n"))
	f.Add([]byte("&a [*a]"))
	f.Add([]byte("kind: ServiceEntry\napiVersion: networking.istio.io/v1\nspec: {hosts: [a], ports: [{number: -1}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, ds, _ := Parse("fuzz.yaml", data)
		if len(ds.Errors()) > 0 {
			return
		}
		s, _ := Build(res, BuildOptions{CredentialsDir: t.TempDir()})
		if s == nil {
			return
		}
		for _, e := range s.Entries {
			for _, h := range e.Hosts {
				for _, p := range e.Ports {
					if _, r := s.Lookup(mustHost(t, strings.Replace(h, "*", "x", 1)), p.Number); r != Declared {
						t.Fatalf("declared %s:%d does not look up: %v", h, p.Number, r)
					}
				}
			}
		}
	})
}

// FuzzLookup checks the matcher on arbitrary names as the edge passes
// them in: no panic, and case and a trailing dot, which the edge folds
// into one canonical host, never change the answer.
func FuzzLookup(f *testing.F) {
	s := mustBuild(f,
		namedSE("exact", "  hosts: [api.example.com]\n  resolution: DNS\n"+port443),
		namedSE("wild", "  hosts: ['*.example.com', '*.a.example.com']\n"+port443),
		namedSE("partial", "  hosts: ['*foo.org']\n"+port443),
		namedSE("vip", "  hosts: [db.internal]\n  addresses: [203.0.113.0/24, '2001:db8::/32']\n"+port443),
	)
	for _, h := range []string{"api.example.com", "x.a.example.com", "example.com", "barfoo.org", "203.0.113.9", "[2001:db8::1]", "", ".", "..", "*.example.com", "a..example.com"} {
		f.Add(h, 443)
	}
	f.Fuzz(func(t *testing.T, host string, port int) {
		h1, err := canon.ParseHost(host)
		if err != nil {
			return
		}
		r1, res1 := s.Lookup(h1, port)
		if h1.IsIP() || strings.HasSuffix(host, ".") {
			return
		}
		h2, err := canon.ParseHost(strings.ToUpper(host) + ".")
		if err != nil {
			t.Fatalf("%q parses but its upper-case FQDN does not: %v", host, err)
		}
		r2, res2 := s.Lookup(h2, port)
		if h1 != h2 || res1 != res2 || r1 != r2 {
			t.Fatalf("Lookup(%q) = %v, Lookup(upper+dot) = %v", host, res1, res2)
		}
	})
}
