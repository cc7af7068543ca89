package registry

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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

// Parse reads the multi-document YAML data of one file named file.
func Parse(file string, data []byte) (res []*Resource, diags Diagnostics, skipped int) {
	return parseStream(file, bytes.NewReader(data))
}

// parseStream reads multi-document YAML from in, one document at a time:
// each document's tree is dropped once its resources are parsed and
// checked (Resource.seal), so memory follows the largest document, not
// the file. A syntax error ends the file, as it ends the YAML stream.
//
// Scanning YAML is about half the work; a goroutine does it a few
// documents ahead of the checks, so that one large file keeps two CPUs
// busy.
func parseStream(file string, in io.Reader) (res []*Resource, diags Diagnostics, skipped int) {
	shared := newInterner() // a file's entries repeat its team's labels and namespaces
	doc := 0
	for d := range scanDocuments(in) {
		if errors.Is(d.err, io.EOF) {
			break
		}
		if d.err != nil {
			diags = append(diags, syntaxDiag(file, doc, d.err))
			break
		}
		n := d.node
		if len(n.Content) == 0 || n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null" {
			doc++
			continue // empty document ("---" at the end, comments only)
		}
		top := n.Content[0]
		r, ds, s := parseObject(file, doc, top, top, "")
		for _, x := range r {
			x.seal(shared)
		}
		res, diags, skipped = append(res, r...), append(diags, ds...), skipped+s
		doc++
	}
	return res, diags, skipped
}

// scanned is one document of a YAML stream, or the error that ended it.
type scanned struct {
	node *yaml.Node
	err  error
}

// scanAhead is how many documents the scanner may run ahead of the
// checks: enough to keep both busy, few enough that memory stays per
// document.
const scanAhead = 16

// scanDocuments decodes the documents of in into YAML trees on its own
// goroutine. The channel ends after the first error (io.EOF at the end);
// its reader must drain it.
func scanDocuments(in io.Reader) <-chan scanned {
	out := make(chan scanned, scanAhead)
	go func() {
		defer close(out)
		dec := yaml.NewDecoder(in)
		for {
			var n yaml.Node
			err := dec.Decode(&n)
			out <- scanned{&n, err}
			if err != nil {
				return
			}
		}
	}()
	return out
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
	// The names Sluice knows are kept as constants, not as copies from
	// every document.
	head.Kind = knownString(head.Kind, KindServiceEntry, KindDestinationRule)
	head.APIVersion = knownString(head.APIVersion, "networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3")
	r := &Resource{APIVersion: head.APIVersion, Kind: head.Kind, Source: Source{file, doc}, parsing: &parseState{node: root, item: prefix}}
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
		r.parsing.se = &ServiceEntrySpec{}
		for _, fe := range yamlx.Decode(spec, r.parsing.se, prefix+"spec") {
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

// knownString returns the one of known equal to s, else s.
func knownString(s string, known ...string) string {
	for _, k := range known {
		if s == k {
			return k
		}
	}
	return s
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
