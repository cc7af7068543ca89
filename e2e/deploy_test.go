package e2e

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Every broken document is reported, with its file, index and line, and
// the documents after it are still read.
func TestManifestErrorsAllReported(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     []string
		mounted  []string
	}{
		{name: "valid", manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: sluice-config}\ndata: {sluice.yaml: 'x: 1'}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n",
			mounted: []string{"config/sluice.yaml"}},
		{name: "two broken documents and a good one after them",
			manifest: "apiVersion: v1\nkind: [unclosed\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\nkind: ConfigMap\n  bad: indent\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: sluice-policy}\ndata: {p.rego: 'package x'}\n",
			want: []string{
				"m.yaml: doc 0 (line 1): yaml: line 1: did not find expected ',' or ']'",
				"m.yaml: doc 2 (line 7): yaml: line 9: mapping values are not allowed in this context",
			},
			mounted: []string{"policy/p.rego"}},
		{name: "objects without kind or name", manifest: "apiVersion: v1\nmetadata: {name: a}\n---\n- a list\n---\napiVersion: v1\nkind: Service\n",
			want: []string{
				"m.yaml: doc 0 (line 1): no kind",
				"m.yaml: doc 1 (line 3): yaml: unmarshal errors:\n  line 4: cannot unmarshal !!seq into e2e.manifestObject",
				"m.yaml: doc 2 (line 5): Service has no metadata.name",
			}},
		{name: "a mount defined twice", manifest: "kind: ConfigMap\napiVersion: v1\nmetadata: {name: sluice-policy}\n---\nkind: Secret\napiVersion: v1\nmetadata: {name: sluice-policy}\n",
			want: []string{"m.yaml: doc 1 (line 4): Secret sluice-policy: sluice-policy is already defined in m.yaml doc 0"}},
		{name: "--- inside a block scalar is content", manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: sluice-registry}\ndata:\n  r.yaml: |\n    a: 1\n    ---\n    b: 2\n",
			mounted: []string{"registry/r.yaml"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMounts("D")
			var got []string
			for _, e := range m.readManifest("m.yaml", []byte(tc.manifest)) {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n got %q\nwant %q", got, tc.want)
			}
			var mounted []string
			for _, f := range m.written {
				mounted = append(mounted, strings.TrimPrefix(f.path, "D/"))
			}
			if strings.Join(mounted, ",") != strings.Join(tc.mounted, ",") {
				t.Errorf("mounted %q, want %q", mounted, tc.mounted)
			}
		})
	}
}

// manifestObject is the part of a Kubernetes object the test reads.
type manifestObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
}

// mounts turns the ConfigMaps and Secrets the Deployment mounts into
// files under dir, with the pod's paths remapped into dir.
type mounts struct {
	dir     string
	subdir  map[string]string // object name → directory under dir
	seen    map[string]string // object name → where it was defined
	written []mountedFile
}

type mountedFile struct{ path, content string }

func newMounts(dir string) *mounts {
	return &mounts{dir: dir, seen: map[string]string{},
		subdir: map[string]string{"sluice-config": "config", "sluice-registry": "registry", "sluice-policy": "policy", "sluice-admin-token": "admin"}}
}

// readManifest checks every document of one manifest file and collects
// the mounted objects; it returns every problem found, in order.
func (m *mounts) readManifest(file string, data []byte) []error {
	var errs []error
	for i, doc := range splitDocuments(string(data)) {
		where := fmt.Sprintf("%s: doc %d (line %d)", file, i, doc.line)
		if strings.TrimSpace(stripComments(doc.text)) == "" {
			continue
		}
		var obj manifestObject
		if err := yaml.Unmarshal([]byte(doc.text), &obj); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s", where, shiftLines(err.Error(), doc.line-1)))
			continue
		}
		switch {
		case obj.APIVersion == "" && obj.Kind == "":
			errs = append(errs, fmt.Errorf("%s: no apiVersion and no kind", where))
			continue
		case obj.Kind == "":
			errs = append(errs, fmt.Errorf("%s: no kind", where))
			continue
		case obj.APIVersion == "":
			errs = append(errs, fmt.Errorf("%s: %s has no apiVersion", where, obj.Kind))
		case obj.Metadata.Name == "":
			errs = append(errs, fmt.Errorf("%s: %s has no metadata.name", where, obj.Kind))
			continue
		}
		sub, ok := m.subdir[obj.Metadata.Name]
		if (obj.Kind != "ConfigMap" && obj.Kind != "Secret") || !ok {
			continue
		}
		if prev, dup := m.seen[obj.Metadata.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: %s %s: %s is already defined in %s", where, obj.Kind, obj.Metadata.Name, obj.Metadata.Name, prev))
			continue
		}
		m.seen[obj.Metadata.Name] = fmt.Sprintf("%s doc %d", file, i)
		content := map[string]string{}
		for name, c := range obj.Data {
			content[name] = c
		}
		for name, c := range obj.StringData {
			content[name] = c
		}
		names := make([]string, 0, len(content))
		for name := range content {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			c := strings.ReplaceAll(content[name], "/etc/sluice/", m.dir+"/")
			c = strings.ReplaceAll(c, "/var/lib/sluice/", m.dir+"/")
			m.written = append(m.written, mountedFile{filepath.Join(m.dir, sub, name), c})
		}
	}
	return errs
}

// missing lists the mounted objects no manifest defined.
func (m *mounts) missing() []string {
	var out []string
	for name := range m.subdir {
		if _, ok := m.seen[name]; !ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// document is one YAML document of a stream and the line it starts on.
type document struct {
	text string
	line int
}

// splitDocuments cuts a YAML stream at its document markers ("---" at the
// start of a line; block scalars are indented, so a marker is never their
// content) so that each document can be parsed, and fail, on its own.
func splitDocuments(s string) []document {
	var docs []document
	start, startLine := 0, 1
	line := 1
	for i := 0; i < len(s); {
		end := strings.IndexByte(s[i:], '\n')
		next := len(s)
		if end >= 0 {
			next = i + end + 1
		}
		text := strings.TrimRight(s[i:next], "\r\n")
		if text == "---" || strings.HasPrefix(text, "--- ") || strings.HasPrefix(text, "---\t") {
			docs = append(docs, document{s[start:i], startLine})
			start, startLine = i, line // the marker stays with its document
		}
		i, line = next, line+1
	}
	docs = append(docs, document{s[start:], startLine})
	if len(docs) > 1 && strings.TrimSpace(stripComments(docs[0].text)) == "" {
		docs = docs[1:] // comments before the first marker are no document
	}
	return docs
}

// stripComments drops comment lines and document markers, to tell an
// empty document from one with content.
func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") && t != "---" {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// shiftLines makes the line numbers ("line 3") of a YAML error about one
// document count from the start of its file.
func shiftLines(msg string, by int) string {
	var b strings.Builder
	for {
		i := strings.Index(msg, "line ")
		if i < 0 {
			b.WriteString(msg)
			return b.String()
		}
		j := i + len("line ")
		k := j
		for k < len(msg) && msg[k] >= '0' && msg[k] <= '9' {
			k++
		}
		b.WriteString(msg[:j])
		if n, err := strconv.Atoi(msg[j:k]); err == nil {
			b.WriteString(strconv.Itoa(n + by))
		}
		msg = msg[k:]
	}
}
