package registry

import (
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/internal/yamlx"
	"go.yaml.in/yaml/v3"
)

// Source says where a resource came from.
type Source struct {
	File string `json:"file"`
	Doc  int    `json:"doc"`
}

// Resource is one ServiceEntry or DestinationRule read from a file.
//
// Its YAML tree is needed only while the document is parsed: the checks
// that concern the resource alone run then, and the positions of the few
// fields that Build may still report on (duplicates, conflicting hosts,
// DestinationRule selection and certificates) are noted. The tree is then
// dropped, so that a load holds one document's nodes at a time rather
// than every document's — nodes are most of the memory YAML costs.
type Resource struct {
	APIVersion string
	Kind       string
	Metadata   Metadata
	Source     Source

	// Entry is a ServiceEntry in the form the gateway uses (nil for a
	// DestinationRule). The spec it was made from is not kept.
	Entry *Entry
	// DestinationRule is a DestinationRule's spec (nil for a
	// ServiceEntry), without the traffic-policy settings Sluice does not
	// act on once they are checked.
	DestinationRule *DestinationRuleSpec
	// VirtualService is a VirtualService's spec.
	VirtualService *VirtualServiceSpec

	parsing *parseState // while the document is parsed
	checks  Diagnostics // the findings of validateServiceEntry/validateDestinationRule
	pos     []fieldPos  // where the fields of lateFields are, once the tree is gone
}

// parseState is what a resource needs only while its document is parsed.
type parseState struct {
	node *yaml.Node        // the document's top mapping (read by yaml.v3)
	doc  *yamlx.Doc        // or the document (read by yamlx.Doc)
	root yamlx.NodeID      // and its top mapping
	item string            // path prefix inside the document ("items[3]." for List items)
	se   *ServiceEntrySpec // a ServiceEntry's spec
}

// fieldPos is the position of one field of a resource in its file.
type fieldPos struct {
	field     string
	line, col int32
}

// ID is "Kind namespace/name".
func (r *Resource) ID() string { return r.Kind + " " + r.Metadata.Namespace + "/" + r.Metadata.Name }

// diag builds a finding about field of this resource.
func (r *Resource) diag(sev Severity, field, format string, a ...any) Diagnostic {
	line, col := r.locate(field)
	return Diagnostic{Severity: sev, File: r.Source.File, Line: line, Column: col, Doc: r.Source.Doc,
		Kind: r.Kind, Namespace: r.Metadata.Namespace, Name: r.Metadata.Name, Field: field, Msg: fmt.Sprintf(format, a...)}
}

// position is where field is, as a fieldPos.
func (r *Resource) position(field string) fieldPos {
	line, col := r.locate(field)
	return fieldPos{field, int32(line), int32(col)}
}

// locate finds field in the YAML tree while there is one, else among the
// positions noted when the tree was dropped.
func (r *Resource) locate(field string) (line, col int) {
	if p := r.parsing; p != nil {
		if p.doc != nil {
			return p.doc.Locate(p.root, p.item+field)
		}
		return yamlx.Locate(p.node, p.item+field)
	}
	for _, p := range r.pos {
		if p.field == field {
			return int(p.line), int(p.col)
		}
	}
	return 0, 0
}

// fieldDiag turns a decoding error into a finding; only while parsing.
func (r *Resource) fieldDiag(fe *yamlx.FieldError) Diagnostic {
	return Diagnostic{Severity: SevError, File: r.Source.File, Line: fe.Line, Column: fe.Column, Doc: r.Source.Doc,
		Kind: r.Kind, Namespace: r.Metadata.Namespace, Name: r.Metadata.Name, Field: strings.TrimPrefix(fe.Path, r.parsing.item), Msg: fe.Msg}
}

// seal runs the checks that need only this resource, makes a
// ServiceEntry's Entry (sharing what repeats through in), notes where the
// fields Build may report on are, and drops the YAML tree, the
// ServiceEntry spec.
func (r *Resource) seal(in *interner) {
	switch {
	case r.parsing.se != nil:
		r.checks = validateServiceEntry(r)
		r.Entry = in.entry(newEntry(r))
		r.Metadata.Labels, r.Metadata.Annotations = r.Entry.Labels, r.Entry.Annotations // the shared maps
	case r.DestinationRule != nil:
		r.checks = validateDestinationRule(r)
	case r.VirtualService != nil:
		r.checks = validateVirtualService(r)
	}
	fields := r.lateFields()
	r.pos = make([]fieldPos, len(fields))
	for i, f := range fields {
		r.pos[i] = r.position(f)
	}
	r.parsing, r.Metadata.Rest = nil, nil
}

// lateFields are the fields Build reports on after the YAML tree is gone:
// metadata.name (duplicates), spec.hosts (a host:port declared twice),
// spec.host (DestinationRule selection) and the certificate fields of
// every TLS setting of a DestinationRule.
func (r *Resource) lateFields() []string {
	fields := append(make([]string, 0, 2), "metadata.name")
	switch {
	case r.parsing.se != nil:
		fields = append(fields, "spec.hosts")
	case r.DestinationRule != nil:
		fields = append(fields, "spec.host")
		if r.DestinationRule.WorkloadSelector != nil {
			fields = append(fields, "spec.workloadSelector") // whether it selects the gateway (workload.go)
		}
		tp := r.DestinationRule.TrafficPolicy
		if tp == nil {
			break
		}
		if tp.TLS != nil {
			const top = "spec.trafficPolicy.tls."
			fields = append(fields, top+tlsCredentialName, top+tlsCACertificates, top+tlsClientCertificate, top+tlsCACrl)
		}
		for i, pl := range tp.PortLevelSettings {
			if pl.TLS != nil {
				base := portTLSField(i) + "."
				fields = append(fields, base+tlsCredentialName, base+tlsCACertificates, base+tlsClientCertificate, base+tlsCACrl)
			}
		}
	}
	return fields
}

// portTLSField is the path of the TLS setting of portLevelSettings[i].
func portTLSField(i int) string {
	return fmt.Sprintf("spec.trafficPolicy.portLevelSettings[%d].tls", i)
}
