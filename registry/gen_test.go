package registry

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// genSpec shapes a generated registry: n ServiceEntries spread over files
// files, one DestinationRule for every drEvery-th entry (0 = none).
// compact writes flow-style entries without labels or annotations, about
// 220 bytes each, the density of the registry in the hardening issue
// (50 MB for 230,000 entries); otherwise block style with labels and
// annotations, about 440 bytes each.
type genSpec struct {
	entries, files, drEvery int
	compact                 bool
}

// realisticRegistry writes a registry the way teams keep one: one file per
// team, block-style YAML with labels and annotations, exact and wildcard
// hosts, one or two ports, DNS, DNS-with-endpoints and STATIC resolution,
// and DestinationRules (SIMPLE origination, port-level or top-level) for
// some entries. It returns the directory and the bytes written.
func realisticRegistry(tb testing.TB, g genSpec) (dir string, size int64) {
	tb.Helper()
	dir = tb.TempDir()
	perFile := (g.entries + g.files - 1) / g.files
	var b strings.Builder
	for f := 0; f < g.files; f++ {
		b.Reset()
		for i := f * perFile; i < (f+1)*perFile && i < g.entries; i++ {
			if g.compact {
				writeCompactEntry(&b, i, g.drEvery)
			} else {
				writeEntry(&b, i, g.drEvery)
			}
		}
		p := filepath.Join(dir, fmt.Sprintf("team-%04d.yaml", f))
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			tb.Fatal(err)
		}
		size += int64(b.Len())
	}
	return dir, size
}

// writeEntry appends ServiceEntry i (and its DestinationRule, if any).
func writeEntry(b *strings.Builder, i, drEvery int) {
	team := i % 97
	host := fmt.Sprintf("api-%d.partner-%d.example.com", i, team)
	if i%10 == 3 {
		host = fmt.Sprintf("*.tenant-%d.saas.example", i)
	}
	fmt.Fprintf(b, `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: partner-%d
  namespace: team-%d
  labels:
    app.kubernetes.io/name: partner-%d
    team: team-%d
  annotations:
    owner: team-%d@example.com
spec:
  hosts:
  - %q
  location: MESH_EXTERNAL
  exportTo: ["."]
  ports:
  - number: 443
    name: https
    protocol: HTTPS
`, i, team, i, team, team, host)
	if i%2 == 0 {
		b.WriteString("  - number: 80\n    name: http\n    protocol: HTTP\n    targetPort: 443\n")
	}
	switch {
	case i%10 == 3: // wildcard: DNS with an endpoint
		fmt.Fprintf(b, "  resolution: DNS\n  endpoints:\n  - address: edge-%d.saas.example\n", i%13)
	case i%3 == 0:
		fmt.Fprintf(b, "  resolution: STATIC\n  endpoints:\n  - address: 10.%d.%d.%d\n  - address: 10.%d.%d.%d\n",
			i>>16&255, i>>8&255, i&255, 128|i>>16&127, i>>8&255, i&255)
	default:
		b.WriteString("  resolution: DNS\n")
	}
	b.WriteString("---\n")
	if drEvery == 0 || i%drEvery != 0 || i%10 == 3 {
		return
	}
	fmt.Fprintf(b, `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: partner-%d
  namespace: team-%d
spec:
  host: %s
  trafficPolicy:
`, i, team, host)
	if i%2 == 0 {
		fmt.Fprintf(b, "    portLevelSettings:\n    - port:\n        number: 80\n      tls:\n        mode: SIMPLE\n        sni: %s\n", host)
	} else {
		b.WriteString("    connectionPool:\n      tcp:\n        maxConnections: 100\n    tls:\n      mode: SIMPLE\n")
	}
	b.WriteString("---\n")
}

// writeCompactEntry appends ServiceEntry i (and its DestinationRule, if
// any) in flow style: the same hosts, ports, resolutions, endpoints and
// rules as writeEntry, without labels and annotations.
func writeCompactEntry(b *strings.Builder, i, drEvery int) {
	team := i % 97
	host := fmt.Sprintf("api-%d.partner-%d.example.com", i, team)
	if i%10 == 3 {
		host = fmt.Sprintf("*.tenant-%d.saas.example", i)
	}
	fmt.Fprintf(b, "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: partner-%d, namespace: team-%d}\nspec:\n  hosts: [%q]\n", i, team, host)
	b.WriteString("  ports: [{number: 443, name: https, protocol: HTTPS}")
	if i%2 == 0 {
		b.WriteString(", {number: 80, name: http, protocol: HTTP, targetPort: 443}")
	}
	b.WriteString("]\n")
	switch {
	case i%10 == 3:
		fmt.Fprintf(b, "  resolution: DNS\n  endpoints: [{address: edge-%d.saas.example}]\n", i%13)
	case i%3 == 0:
		fmt.Fprintf(b, "  resolution: STATIC\n  endpoints: [{address: 10.%d.%d.%d}, {address: 10.%d.%d.%d}]\n",
			i>>16&255, i>>8&255, i&255, 128|i>>16&127, i>>8&255, i&255)
	default:
		b.WriteString("  resolution: DNS\n")
	}
	b.WriteString("---\n")
	if drEvery == 0 || i%drEvery != 0 || i%10 == 3 {
		return
	}
	fmt.Fprintf(b, "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: partner-%d, namespace: team-%d}\nspec:\n  host: %s\n", i, team, host)
	if i%2 == 0 {
		b.WriteString("  trafficPolicy: {portLevelSettings: [{port: {number: 80}, tls: {mode: SIMPLE}}]}\n---\n")
	} else {
		b.WriteString("  trafficPolicy: {connectionPool: {tcp: {maxConnections: 100}}, tls: {mode: SIMPLE}}\n---\n")
	}
}

// TestRealisticRegistryLoads keeps the generator honest: what it writes is
// valid and declares what it says.
func TestRealisticRegistryLoads(t *testing.T) {
	for _, compact := range []bool{false, true} {
		dir, size := realisticRegistry(t, genSpec{entries: 200, files: 3, drEvery: 5, compact: compact})
		s, ds, err := LoadPaths([]string{dir}, BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds.Errors()) != 0 {
			t.Fatalf("compact=%v: unexpected errors:\n%v", compact, ds)
		}
		if len(s.Entries) != 200 || len(s.DestinationRules) != 40 || len(s.Files) != 3 {
			t.Fatalf("compact=%v: entries=%d rules=%d files=%d", compact, len(s.Entries), len(s.DestinationRules), len(s.Files))
		}
		r, res := s.Lookup(mustHost(t, "api-10.partner-10.example.com"), 80)
		if res != Declared || r.TLS == nil || r.TLS.Mode != TLSSimple || r.Port.DialPort() != 443 {
			t.Fatalf("compact=%v: api-10:80 = %v %+v", compact, res, r)
		}
		t.Logf("compact=%v: %d bytes per entry", compact, size/200)
	}
}
