package registry

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/yamlx"
)

// fastPathCorpus is registry YAML of every shape the tests know: what
// yamlx.Doc reads, what it leaves to yaml.v3 (anchors, block scalars,
// tabs, CRLF, syntax errors), and files where it hands over part way.
func fastPathCorpus(t testing.TB) map[string][]byte {
	t.Helper()
	c := map[string][]byte{}
	for _, dir := range []string{"../deploy/examples/registry", "../bench/egress/registry"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c[f] = b
		}
	}
	for _, f := range []string{"../bench/dns/registry.yaml"} {
		if b, err := os.ReadFile(f); err == nil {
			c[f] = b
		}
	}
	seeds, _ := filepath.Glob("testdata/fuzz/FuzzParse/*")
	for _, f := range seeds {
		b, _ := os.ReadFile(f)
		_, lit, _ := strings.Cut(string(b), "[]byte(")
		if s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimSpace(lit), ")")); err == nil {
			c[f] = []byte(s)
		}
	}
	for _, compact := range []bool{false, true} {
		var b strings.Builder
		for i := 0; i < 60; i++ {
			if compact {
				writeCompactEntry(&b, i, 5)
			} else {
				writeEntry(&b, i, 5)
			}
		}
		c["generated compact="+strconv.FormatBool(compact)] = []byte(b.String())
	}
	se := seDoc("  hosts: [api.example.com]\n  resolution: DNS\n" + port443)
	dr := drDoc("  host: api.example.com\n  trafficPolicy: {tls: {mode: SIMPLE}}\n")
	bad := seDoc("  hosts: ['*']\n  ports: [{number: 0, name: HTTP, protocol: bogus}]\n")
	for name, s := range map[string]string{
		"valid":                se + "---\n" + dr,
		"findings":             se + "---\n" + bad + "---\n" + dr,
		"anchor in the middle": se + "---\n" + strings.Replace(bad, "spec:\n", "spec: &s\n", 1) + "---\n" + dr,
		"block scalar later":   se + "---\n" + seDoc("  hosts: [b.example.com]\n"+port443) + "  endpoints:\n  - address: |\n      x\n---\n" + dr,
		"unknown key later":    se + "---\n" + seDoc("  hosts: [b.example.com]\n  hots: [x]\n"+port443) + "---\n" + dr,
		"wrong type later":     se + "---\n" + seDoc("  hosts: b.example.com\n"+port443) + "---\n" + dr,
		"syntax error later":   se + "---\n" + "apiVersion: v1\nkind: [unclosed\n" + "---\n" + dr,
		"tab later":            se + "---\n" + seDoc("  hosts: [b.example.com]\n"+port443) + "\t\n---\n" + dr,
		"crlf":                 strings.ReplaceAll(se+"---\n"+dr, "\n", "\r\n"),
		"crlf later":           se + "---\n" + strings.ReplaceAll(dr, "\n", "\r\n"),
		"empty documents":      "---\n# c\n---\n" + se + "---\n---\n" + dr + "---\n",
		"document end":         se + "...\n---\n" + dr,
		"directive":            "%YAML 1.2\n---\n" + se,
		"marker with value":    se + "--- " + strings.Replace(dr, "\n", "\n", 1),
		"comments first":       "# team file\n\n# more\n---\n" + se,
		"list": "apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(strings.TrimSuffix(se, "\n"), "\n", "\n  ") +
			"\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}\n- " + strings.ReplaceAll(strings.TrimSuffix(bad, "\n"), "\n", "\n  ") + "\n",
		"list item not an object":  "apiVersion: v1\nkind: List\nitems: [5, {kind: ServiceEntry}]\n",
		"metadata twice":           "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: a, labels: {x: y}}\nmetadata: {namespace: b, labels: {z: w}}\nspec: {hosts: [a.b]}\n",
		"no spec":                  "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: a}\n",
		"null spec":                "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: a}\nspec:\n",
		"old apiVersion":           strings.Replace(se, "/v1\n", "/v2\n", 1),
		"kubectl metadata":         strings.Replace(se, "metadata:\n", "metadata:\n  uid: 1234\n  managedFields:\n  - manager: kubectl\n    fieldsV1: {f:spec: {.: {}}}\n", 1),
		"top-level scalar":         "hello\n---\n" + se,
		"other kinds":              "apiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n---\napiVersion: other.io/v1\nkind: ServiceEntry\n---\n" + se,
		"non-ascii":                strings.Replace(se, "metadata:\n", "metadata:\n  annotations: {note: \"café – ünïcode\"}\n", 1),
		"quoted and escaped":       strings.Replace(se, "api.example.com", "\"api.\\u0065xample.com\"", 1),
		"endpoints ports":          seDoc("  hosts: [a.example.com]\n  resolution: STATIC\n  endpoints: [{address: 10.0.0.1, ports: {https: 8443, bogus: 0}}]\n" + port443),
		"insecureSkipVerify":       drDoc("  host: api.example.com\n  trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true, sni: x}}\n"),
		"insecureSkipVerify yes":   drDoc("  host: api.example.com\n  trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: yes}}\n"),
		"port as hex":              seDoc("  hosts: [a.example.com]\n  ports: [{number: 0x1bb, name: https, protocol: HTTPS}]\n"),
		"connectionPool duplicate": drDoc("  host: api.example.com\n  trafficPolicy: {connectionPool: {tcp: {a: 1, a: 2}}}\n"),
		"empty traffic policy":     drDoc("  host: api.example.com\n  trafficPolicy: {}\n"),
	} {
		c[name] = []byte(s)
	}
	return c
}

// parseSlow is how every file was read before yamlx.Doc: yaml.v3 and
// yamlx.Decode throughout.
func parseSlow(file string, data []byte) ([]*Resource, Diagnostics, int) {
	return parseYAML(file, bytes.NewReader(data), 0, newInterner())
}

// Reading with yamlx.Doc (and handing over to yaml.v3 where it stops)
// gives exactly what yaml.v3 alone gives: the same resources, the same
// findings in the same order, at the same lines and columns.
func TestFastPathMatchesYAMLv3(t *testing.T) {
	for name, data := range fastPathCorpus(t) {
		checkFastPath(t, name, data)
	}
}

func checkFastPath(t *testing.T, name string, data []byte) {
	t.Helper()
	res, ds, skipped := Parse("f.yaml", data)
	wres, wds, wskipped := parseSlow("f.yaml", data)
	if !reflect.DeepEqual(ds, wds) {
		t.Fatalf("%s: findings\n%v\nyaml.v3:\n%v", name, ds, wds)
	}
	if skipped != wskipped || !reflect.DeepEqual(res, wres) {
		t.Fatalf("%s: %d resources (%d skipped), yaml.v3 %d (%d skipped); first differing: %s", name, len(res), skipped, len(wres), wskipped, firstDiff(res, wres))
	}
}

func firstDiff(a, b []*Resource) string {
	for i := range min(len(a), len(b)) {
		if !reflect.DeepEqual(a[i], b[i]) {
			return strings.Join([]string{strconv.Itoa(i), describe(a[i]), describe(b[i])}, "\n")
		}
	}
	return "(lengths)"
}

func describe(r *Resource) string {
	s := r.ID()
	if r.Entry != nil {
		s += " " + strconv.Quote(strings.Join(r.Entry.Hosts, ","))
	}
	return s
}

// The registries teams write are read by yamlx.Doc, document after
// document, without handing over to yaml.v3.
func TestFastPathReadsRealisticRegistries(t *testing.T) {
	c := fastPathCorpus(t)
	for _, name := range []string{"generated compact=false", "generated compact=true", "valid", "findings", "list", "kubectl metadata", "non-ascii", "../deploy/examples/registry/payments.yaml"} {
		data, ok := c[name]
		if !ok {
			t.Fatalf("%s: not in the corpus", name)
		}
		sp := newSplitter(bytes.NewReader(data))
		var d yamlx.Doc
		for doc := 0; ; doc++ {
			text, line, _, isDoc, more := sp.next()
			if !more || !isDoc {
				break
			}
			root, read := d.Parse(text, line, nil)
			if !read {
				t.Fatalf("%s: document %d (line %d) left to yaml.v3", name, doc, line)
			}
			if root == yamlx.NoNode {
				continue
			}
			if _, _, _, decoded := parseObjectFast("f.yaml", doc, &d, root, root, ""); !decoded {
				t.Fatalf("%s: document %d (line %d) decoded by yamlx.Decode", name, doc, line)
			}
		}
	}
}

func FuzzFastPath(f *testing.F) {
	for _, data := range fastPathCorpus(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkFastPath(t, "fuzz", data) })
}
