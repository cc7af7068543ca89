package registry

import (
	"fmt"
	"strings"
)

// Severity tells errors (the set is rejected) from warnings (accepted).
type Severity int

// Severities.
const (
	SevError Severity = iota
	SevWarning
)

// String returns "error" or "warning".
func (s Severity) String() string {
	if s == SevWarning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one validation finding. It names everything a user needs
// to find the problem: file, line, document index, resource and field.
type Diagnostic struct {
	Severity  Severity `json:"severity"`
	File      string   `json:"file"`
	Line      int      `json:"line,omitempty"`
	Column    int      `json:"column,omitempty"`
	Doc       int      `json:"doc"` // 0-based index of the YAML document in the file
	Kind      string   `json:"kind,omitempty"`
	Namespace string   `json:"namespace,omitempty"`
	Name      string   `json:"name,omitempty"`
	Field     string   `json:"field,omitempty"`
	Msg       string   `json:"message"`
}

// String formats as
// "file:line:col: error: doc 2: ServiceEntry ns/name: spec.hosts[0]: invalid host *".
func (d Diagnostic) String() string {
	var b strings.Builder
	b.WriteString(d.File)
	if d.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", d.Line, d.Column)
	}
	fmt.Fprintf(&b, ": %s: doc %d", d.Severity, d.Doc)
	if d.Kind != "" {
		fmt.Fprintf(&b, ": %s %s/%s", d.Kind, d.Namespace, d.Name)
	}
	if d.Field != "" {
		fmt.Fprintf(&b, ": %s", d.Field)
	}
	fmt.Fprintf(&b, ": %s", d.Msg)
	return b.String()
}

// Diagnostics is a list of findings; as an error it lists the errors.
type Diagnostics []Diagnostic

// Errors returns only the errors.
func (ds Diagnostics) Errors() Diagnostics { return ds.filter(SevError) }

// Warnings returns only the warnings.
func (ds Diagnostics) Warnings() Diagnostics { return ds.filter(SevWarning) }

func (ds Diagnostics) filter(s Severity) Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == s {
			out = append(out, d)
		}
	}
	return out
}

// Error implements error with one finding per line.
func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// ValidationError is returned when a set of resources has errors; it holds
// every finding, warnings included.
type ValidationError struct{ Diagnostics Diagnostics }

// Error lists the errors, one per line.
func (e *ValidationError) Error() string {
	errs := e.Diagnostics.Errors()
	return fmt.Sprintf("registry: %d error(s):\n%s", len(errs), errs.Error())
}
