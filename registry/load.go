package registry

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluicehq/sluice/internal/yamlx"
	"go.yaml.in/yaml/v3"
)

// Kinds Sluice reads.
const (
	KindServiceEntry    = "ServiceEntry"
	KindDestinationRule = "DestinationRule"
)

// apiVersions with the one shared schema.
var apiVersions = map[string]bool{
	"networking.istio.io/v1":       true,
	"networking.istio.io/v1beta1":  true,
	"networking.istio.io/v1alpha3": true,
}

// Source says where a resource came from.
type Source struct {
	File string `json:"file"`
	Doc  int    `json:"doc"`
}

// Resource is one ServiceEntry or DestinationRule read from a file, with
// its YAML node kept so that findings can point at lines.
type Resource struct {
	APIVersion string
	Kind       string
	Metadata   Metadata
	Source     Source

	ServiceEntry    *ServiceEntrySpec
	DestinationRule *DestinationRuleSpec

	node *yaml.Node // the document's top mapping
	item string     // path prefix inside the document ("items[3]." for List items)
}

// ID is "Kind namespace/name".
func (r *Resource) ID() string { return r.Kind + " " + r.Metadata.Namespace + "/" + r.Metadata.Name }

// diag builds a finding about field of this resource.
func (r *Resource) diag(sev Severity, field, format string, a ...any) Diagnostic {
	line, col := yamlx.Locate(r.node, r.item+field)
	return Diagnostic{Severity: sev, File: r.Source.File, Line: line, Column: col, Doc: r.Source.Doc,
		Kind: r.Kind, Namespace: r.Metadata.Namespace, Name: r.Metadata.Name, Field: field, Msg: fmt.Sprintf(format, a...)}
}

// ExpandPaths lists the YAML files under paths: files as given, directories
// walked recursively in lexical order (hidden entries skipped).
func ExpandPaths(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if path != p && strings.HasPrefix(name, ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() && isYAML(name) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("registry: %s: %w", p, err)
		}
	}
	return files, nil
}

func isYAML(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".yaml" || ext == ".yml" || ext == ".json"
}

// ReadFiles parses every file. Syntax errors and schema errors (unknown
// keys, wrong types, unknown apiVersions) are returned as findings; other
// kinds are skipped and counted in skipped.
func ReadFiles(files []string) (res []*Resource, diags Diagnostics, skipped int) {
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			diags = append(diags, Diagnostic{File: f, Msg: err.Error()})
			continue
		}
		r, d, s := Parse(f, data)
		res, diags, skipped = append(res, r...), append(diags, d...), skipped+s
	}
	return res, diags, skipped
}

// Parse reads the multi-document YAML data of one file named file.
func Parse(file string, data []byte) (res []*Resource, diags Diagnostics, skipped int) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for doc := 0; ; doc++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return res, diags, skipped
		}
		if err != nil {
			diags = append(diags, syntaxDiag(file, doc, err))
			return res, diags, skipped
		}
		if len(n.Content) == 0 || n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null" {
			continue // empty document ("---" at the end, comments only)
		}
		top := n.Content[0]
		r, d, s := parseObject(file, doc, top, top, "")
		res, diags, skipped = append(res, r...), append(diags, d...), skipped+s
	}
}

// parseObject reads one Kubernetes object; a "List" is expanded into its
// items (the output of `kubectl get -o yaml`).
func parseObject(file string, doc int, root, obj *yaml.Node, prefix string) (res []*Resource, diags Diagnostics, skipped int) {
	if obj.Kind != yaml.MappingNode {
		return nil, Diagnostics{{File: file, Line: obj.Line, Column: obj.Column, Doc: doc, Field: strings.TrimSuffix(prefix, "."),
			Msg: "expected a Kubernetes object (a mapping with apiVersion and kind)"}}, 0
	}
	var head struct{ APIVersion, Kind string }
	if n := lookup(obj, "apiVersion"); n != nil {
		head.APIVersion = n.Value
	}
	if n := lookup(obj, "kind"); n != nil {
		head.Kind = n.Value
	}
	if items := lookup(obj, "items"); head.Kind == "List" || strings.HasSuffix(head.Kind, "List") && items != nil {
		if items == nil || items.Kind != yaml.SequenceNode {
			return nil, nil, 1
		}
		for i, it := range items.Content {
			r, d, s := parseObject(file, doc, root, it, fmt.Sprintf("%sitems[%d].", prefix, i))
			res, diags, skipped = append(res, r...), append(diags, d...), skipped+s
		}
		return res, diags, skipped
	}
	if head.Kind != KindServiceEntry && head.Kind != KindDestinationRule {
		return nil, nil, 1
	}
	group := strings.SplitN(head.APIVersion, "/", 2)[0]
	if group != "networking.istio.io" {
		return nil, nil, 1 // same kind name in another API group is not ours
	}
	r := &Resource{APIVersion: head.APIVersion, Kind: head.Kind, Source: Source{file, doc}, node: root, item: prefix}
	var envelope struct {
		APIVersion string    `yaml:"apiVersion"`
		Kind       string    `yaml:"kind"`
		Metadata   Metadata  `yaml:"metadata"`
		Spec       yaml.Node `yaml:"spec"`
		Status     yaml.Node `yaml:"status"`
	}
	envDiags := yamlx.Decode(obj, &envelope, strings.TrimSuffix(prefix, "."))
	r.Metadata = envelope.Metadata
	if r.Metadata.Namespace == "" {
		r.Metadata.Namespace = "default"
	}
	for _, fe := range envDiags {
		diags = append(diags, r.fieldDiag(fe))
	}
	if !apiVersions[head.APIVersion] {
		diags = append(diags, r.diag(SevError, "apiVersion", "unsupported apiVersion %q (want networking.istio.io/v1, v1beta1 or v1alpha3)", head.APIVersion))
		return []*Resource{r}, diags, 0
	}
	if r.Metadata.Name == "" {
		diags = append(diags, r.diag(SevError, "metadata.name", "name is required"))
	}
	spec := lookup(obj, "spec")
	if spec == nil {
		diags = append(diags, r.diag(SevError, "spec", "spec is required"))
		spec = &yaml.Node{Kind: yaml.MappingNode}
	}
	switch head.Kind {
	case KindServiceEntry:
		r.ServiceEntry = &ServiceEntrySpec{}
		for _, fe := range yamlx.Decode(spec, r.ServiceEntry, prefix+"spec") {
			diags = append(diags, r.fieldDiag(fe))
		}
	case KindDestinationRule:
		r.DestinationRule = &DestinationRuleSpec{}
		for _, fe := range yamlx.Decode(spec, r.DestinationRule, prefix+"spec") {
			diags = append(diags, r.fieldDiag(fe))
		}
	}
	return []*Resource{r}, diags, 0
}

func (r *Resource) fieldDiag(fe *yamlx.FieldError) Diagnostic {
	return Diagnostic{Severity: SevError, File: r.Source.File, Line: fe.Line, Column: fe.Column, Doc: r.Source.Doc,
		Kind: r.Kind, Namespace: r.Metadata.Namespace, Name: r.Metadata.Name, Field: strings.TrimPrefix(fe.Path, r.item), Msg: fe.Msg}
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func syntaxDiag(file string, doc int, err error) Diagnostic {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if _, e := fmt.Sscanf(msg, "line %d:", &line); e == nil {
		_, msg, _ = strings.Cut(msg, ": ")
	}
	return Diagnostic{File: file, Line: line, Doc: doc, Msg: "YAML syntax error: " + msg}
}
