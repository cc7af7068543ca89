package registry

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bigRegistry is n ServiceEntries, half exact names, half wildcards.
func bigRegistry(n int) []byte {
	var b strings.Builder
	for i := 0; i < n; i++ {
		host := fmt.Sprintf("svc-%d.example.com", i)
		res := "DNS"
		if i%2 == 1 {
			host, res = fmt.Sprintf("*.tenant-%d.saas.example", i), "NONE"
		}
		fmt.Fprintf(&b, "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: se-%d, namespace: ns-%d}\nspec:\n  hosts: [%q]\n  resolution: %s\n  ports:\n  - {number: 443, name: https, protocol: HTTPS}\n  - {number: 80, name: http, protocol: HTTP}\n---\n", i, i%50, host, res)
	}
	return []byte(b.String())
}

func benchSnapshot(b *testing.B) *Snapshot {
	res, ds, _ := Parse("big.yaml", bigRegistry(10000))
	s, bds := Build(res, BuildOptions{})
	if s == nil {
		b.Fatal(append(ds, bds...).Errors())
	}
	return s
}

// Lookup in a registry of 10,000 entries: target ≤ 1 µs/op.
func BenchmarkLookup10k(b *testing.B) {
	s := benchSnapshot(b)
	cases := []struct{ name, host string }{
		{"exact", "svc-4242.example.com"},
		{"exact-mixed-case", "SVC-4242.Example.com."},
		{"wildcard", "api.eu.tenant-4243.saas.example"},
		{"miss", "www.undeclared-site.example.org"},
		{"ip-literal", "203.0.113.9"},
	}
	for _, c := range cases {
		h := mustHost(b, c.host)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				s.Lookup(h, 443)
			}
		})
	}
}

// Load and validate 10,000 entries from a file: target < 1 s.
func BenchmarkLoad10k(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "big.yaml"), bigRegistry(10000), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := LoadPaths([]string{dir}, BuildOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
