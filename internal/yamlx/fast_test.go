package yamlx

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// fastCorpus is YAML that Doc.Parse reads, or must refuse: every case
// is held to yaml.v3 by checkFast.
var fastCorpus = []string{
	"a: 1\n",
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: partner-1\n  namespace: team-1\n  labels:\n    app.kubernetes.io/name: partner-1\n    team: team-1\n  annotations:\n    owner: team-1@example.com\nspec:\n  hosts:\n  - \"api-1.partner-1.example.com\"\n  location: MESH_EXTERNAL\n  exportTo: [\".\"]\n  ports:\n  - number: 443\n    name: https\n    protocol: HTTPS\n  - number: 80\n    name: http\n    protocol: HTTP\n    targetPort: 443\n  resolution: DNS\n",
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: partner-1, namespace: team-1}\nspec:\n  hosts: [\"*.tenant-3.saas.example\"]\n  ports: [{number: 443, name: https, protocol: HTTPS}, {number: 80, name: http, protocol: HTTP, targetPort: 443}]\n  resolution: STATIC\n  endpoints: [{address: 10.0.0.3}, {address: 10.128.0.3}]\n",
	"---\na: 1\n", "# head\n---\n# c\na: 1 # c\n", "--- # c\na: b\n", "---\n", "", "# only\n", "\n\n",
	"a:\n  b:\n    c: d\n  e: f\ng: h\n",
	"k:\n- a\n- b\nz: 1\n", "k:\n  - a\n  - b\n", "- a\n- b\n", "- a: 1\n  b: 2\n- c: 3\n", "-   a: 1\n    b: 2\n",
	"a: [b,\nc]\n", "a:\n  b: [x,\n  y]\n", "a: [x,\n]\n", "a: {\"k\":1}\n", "a: 'x'#c\n", "a: [x,#c\n y]\n",
	"a: -\n", "... : x\n", "a: 1\n...\n", "a: b: c\n", "a: 'x' y\n", "a:b\n", "a : b\n", "'a': b\n", "\"a\" : b\n",
	"a: it's\n", "a: 'it''s'\n", "a: \"q\\\"uote\\\\ \\/ \\n \\t \\u00e9\"\n", "a: \"\\x41\"\n", "a: \"\\U0001F600\"\n",
	"a: b # comment\nc: d#not\n", "a: b  \nc:   d   \n", "a: b c  d\n", "a: http://x:80/y\n", "a: [http://x:80/y]\n",
	"a: {b: c:d}\n", "a: {b: [1, 2], c: {d: e}}\n", "a: {b}\n", "a: {b: }\n", "a: {b: , c: 1}\n", "a: {,}\n", "a: [,]\n", "a: [a, , b]\n",
	"a: [a: b]\n", "a: {b: 1,}\n", "a: [1,]\n", "a: []\nb: {}\n", "[1, 2]\n", "{a: 1}\n", "{\n  \"a\": [1,\n    2],\n  \"b\": \"c\"\n}\n",
	"a: b\n  c\n", "a:\n  b\n", "a: b\n# c\n  d: e\n", "a:\n- b\n  - c\n", "a:\n  - b\n - c\n", "a:\n    b: 1\n  c: 2\n",
	"a: ~\nb: null\nc: Null\nd:\ne: NULL\nf: ''\n", "a: true\nb: yes\nc: 0x1F\nd: 1_000\ne: 017\nf: -5\ng: 2001-12-14\nh: 1.5\ni: .inf\n",
	"a: &x 1\nb: *x\n", "a: !!str 1\n", "a: |\n  x\n", "a: >\n  x\n", "%YAML 1.2\n---\na: 1\n", "a: 1\n---\nb: 2\n",
	"a:\tb\n", "a: b\r\n", "\ufeffa: 1\n", "a: caf\u00e9\nb: \u00e9: x\n", "\u00e9t\u00e9: {a: \u00e9, b: 1}\n", "a: \"\u00e9\", b: 1\n",
	"? a\n: b\n", "a: [b\n  c]\n", "a: [b\n  , c]\n", "a: [\"b\"\n  , c]\n", "a: {b: c\n  }\n", "a: -1\nb: -x\nc: [-1, -x]\n",
	"a: @x\n", "a: `x`\n", "a: %x\n", "a: b\n---x: 1\n", "a: 'b\n  c'\n", "a: \"b\n  c\"\n", "-\n  a: 1\n", "- - a\n",
	"<<: {a: 1}\n", "a: {<<: {b: 1}}\n", "a: {b: 1, b: 2}\n", "a: {1: x, 01: y}\n", "a: {true: x, True: y}\n",
	strings.Repeat("k", 1100) + ": v\n", "a: " + strings.Repeat("[", 70) + strings.Repeat("]", 70) + "\n",
	"items:\n- apiVersion: v1\n  kind: X\n  metadata:\n    name: a\n    managedFields:\n    - manager: kubectl\n      fieldsV1:\n        f:spec:\n          .: {}\n",
	"a: b\n ...\n", "a:\n-  b\n-   c\n", "a:\n  - b: 1\n    c:\n    - d\n    e: 2\n", "a: [b, [c, {d: e}]]\n",
}

// checkFast parses src with Doc.Parse and yaml.v3: when Parse accepts
// it, yaml.v3 must too, with the same tree.
func checkFast(t *testing.T, src string) (accepted bool) {
	t.Helper()
	var d Doc
	root, ok := d.Parse([]byte(src), 1, nil)
	dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
	var docs []*yaml.Node
	var yerr error
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err == io.EOF {
			break
		} else if err != nil {
			yerr = err
			break
		}
		docs = append(docs, &n)
	}
	if !ok {
		return false
	}
	if yerr != nil {
		t.Fatalf("%q: Parse accepts what yaml.v3 rejects: %v", src, yerr)
	}
	if root == NoNode {
		if len(docs) > 1 || len(docs) == 1 && len(docs[0].Content) == 1 && docs[0].Content[0].Tag != "!!null" {
			t.Fatalf("%q: Parse finds an empty document, yaml.v3 %d documents", src, len(docs))
		}
		return true
	}
	if len(docs) != 1 {
		t.Fatalf("%q: Parse finds one document, yaml.v3 %d", src, len(docs))
	}
	if err := sameTree(&d, root, docs[0].Content[0], "$"); err != nil {
		t.Fatalf("%q: %v", src, err)
	}
	return true
}

func sameTree(d *Doc, id NodeID, y *yaml.Node, path string) error {
	f := d.Node(id)
	f.Content = nil
	want := *y
	want.Content, want.HeadComment, want.LineComment, want.FootComment = nil, "", "", ""
	if d.IsNull(id) && y.Value == "" {
		// The position of an empty value is not kept.
		want.Line, want.Column = f.Line, f.Column
	}
	if !reflect.DeepEqual(*f, want) {
		return fmt.Errorf("%s: fast %+v, yaml.v3 %+v", path, *f, want)
	}
	var kids []NodeID
	for c := d.nodes[id].first; c != NoNode; c = d.nodes[c].next {
		kids = append(kids, c)
	}
	if len(kids) != len(y.Content) {
		return fmt.Errorf("%s: %d children, yaml.v3 %d", path, len(kids), len(y.Content))
	}
	for i, c := range kids {
		if err := sameTree(d, c, y.Content[i], fmt.Sprintf("%s/%d", path, i)); err != nil {
			return err
		}
	}
	return nil
}

func TestFastMatchesYAMLv3(t *testing.T) {
	accepted := 0
	for _, src := range fastCorpus {
		if checkFast(t, src) {
			accepted++
		}
	}
	t.Logf("%d of %d accepted", accepted, len(fastCorpus))
	for _, src := range fastCorpus[:3] {
		var d Doc
		if _, ok := d.Parse([]byte(src), 1, nil); !ok {
			t.Errorf("refused %q", src)
		}
	}
}

func FuzzFastMatchesYAMLv3(f *testing.F) {
	for _, src := range fastCorpus {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) { checkFast(t, src) })
}

type fastInner struct {
	Port   int               `yaml:"port"`
	Tags   []string          `yaml:"tags"`
	Flag   *bool             `yaml:"flag"`
	Ports  map[string]int    `yaml:"ports"`
	Any    any               `yaml:"any"`
	Node   yaml.Node         `yaml:"node"`
	Dur    int64             `yaml:"dur"`
	Labels map[string]string `yaml:"labels"`
}

type fastOuter struct {
	Name  string         `yaml:"name"`
	Inner *fastInner     `yaml:"inner"`
	List  []fastInner    `yaml:"list"`
	Rest  map[string]any `yaml:",inline"`
}

// Decode of a Doc gives what Decode of the yaml.Node gives, and fails
// where it reports errors.
func TestFastDecodeMatchesDecode(t *testing.T) {
	docs := []string{
		"name: a\ninner: {port: 1, tags: [x, ~, 'y'], flag: true, ports: {http: 80, x: }, labels: {a: b, c: , d: '1'}}\n",
		"name: a\nlist:\n- port: 0x10\n  any: {a: [1, b, 2.5, true, ~]}\n- port: -3\n  flag: yes\n  dur: 017\n",
		"name: ~\nuid: 7\nmanaged: {a: [b]}\ninner:\n  node: {x: 1}\n", "name: a\ninner: {port: abc}\n", "name: a\nbogus: 1\n",
		"name: [a]\n", "inner: {tags: x}\n", "inner: {any: {a: 1, a: 2}}\n", "inner: {labels: {a: [b]}}\n", "list: [{port: '1'}]\n",
		"name: a\nname: b\ninner: {labels: {a: 1}}\ninner: {labels: {b: 2}, port: 5}\n", "inner: {port: 99999999999999999999}\n",
	}
	for _, src := range docs {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(src), &n); err != nil {
			t.Fatal(err)
		}
		var slow fastOuter
		errs := Decode(&n, &slow, "")
		var d Doc
		root, ok := d.Parse([]byte(src), 1, nil)
		if !ok {
			t.Fatalf("refused %q", src)
		}
		var fast fastOuter
		fok := d.Decode(root, &fast, DecodeOptions{})
		switch {
		case len(errs) > 0 && fok:
			t.Errorf("%q: Decode reports %v, Doc.Decode none", src, errs[0])
		case len(errs) == 0 && !fok:
			t.Errorf("%q: Doc.Decode fails where Decode does not", src)
		case len(errs) == 0:
			clearNodes(&slow)
			clearNodes(&fast)
			if !reflect.DeepEqual(slow, fast) {
				t.Errorf("%q:\nfast %+v\nslow %+v", src, fast, slow)
			}
		}
	}
}

// clearNodes drops the comments yaml.Node fields keep, which Doc does
// not read.
func clearNodes(o *fastOuter) {
	if o.Inner != nil {
		var clear func(n *yaml.Node)
		clear = func(n *yaml.Node) {
			n.HeadComment, n.LineComment, n.FootComment = "", "", ""
			for _, c := range n.Content {
				clear(c)
			}
		}
		clear(&o.Inner.Node)
	}
}

// Locate on a Doc finds what Locate on the yaml.Node finds.
func TestFastLocate(t *testing.T) {
	src := "a:\n  b:\n  - x: 1\n  - x: 2\n    y: 3\n  c: {d: [e, f]}\n"
	var n yaml.Node
	_ = yaml.Unmarshal([]byte(src), &n)
	var d Doc
	root, ok := d.Parse([]byte(src), 1, nil)
	if !ok {
		t.Fatal("refused")
	}
	for _, p := range []string{"", "a", "a.b[1].y", "a.b[1].missing", "a.b[9]", "a.b[0]", "a.c.d[1]", "a.c.d.x", "z", "a.1"} {
		l, c := Locate(&n, p)
		fl, fc := d.Locate(root, p)
		if l != fl || c != fc {
			t.Errorf("Locate(%s) = %d:%d, yaml.Node %d:%d", p, fl, fc, l, c)
		}
	}
}

// forEachPart splits as splitPath does.
func TestForEachPart(t *testing.T) {
	for _, p := range []string{"", "a", "a.b", "spec.ports[1].name", "items[3].spec.hosts[0]", "a..b", ".a", "a.", "a[", "a]", "a]b.c", "a[1]x", "[1]", "a.b[1][2]", "x.ports.we]ird[.name", "a]]"} {
		var got []string
		forEachPart(p, func(part string) bool { got = append(got, part); return true })
		if want := splitPath(p); !reflect.DeepEqual(got, want) {
			t.Errorf("forEachPart(%q) = %q, splitPath %q", p, got, want)
		}
	}
}
