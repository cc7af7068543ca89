package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
)

// Error is one problem found while loading or compiling a policy, located
// in its file when OPA knows where.
type Error struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Code    string `json:"code,omitempty"` // OPA's code, e.g. rego_parse_error
	Message string `json:"message"`
	// Details are OPA's extra lines, e.g. the source line and a caret.
	Details []string `json:"details,omitempty"`
}

// Error renders the problem as file:line:column: code: message.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
			if e.Column > 0 {
				fmt.Fprintf(&b, ":%d", e.Column)
			}
		}
		b.WriteString(": ")
	}
	if e.Code != "" {
		b.WriteString(e.Code)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	for _, l := range e.Details {
		b.WriteString("\n\t")
		b.WriteString(l)
	}
	return b.String()
}

// Errors lists every problem of a policy that does not load or compile.
// Its message has one line per problem, each naming file, line and column.
type Errors []*Error

// Error renders one problem per line, prefixed by "policy:".
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = "policy: " + e.Error()
	}
	return strings.Join(lines, "\n")
}

// asErrors converts what OPA's loader, parser, bundle reader and compiler
// return into Errors, keeping every location.
func asErrors(err error) Errors {
	if err == nil {
		return nil
	}
	var out Errors
	var add func(error)
	add = func(err error) {
		var es Errors
		if errors.As(err, &es) {
			out = append(out, es...)
			return
		}
		var le loader.Errors
		if errors.As(err, &le) {
			for _, e := range le {
				add(e)
			}
			return
		}
		var ae ast.Errors
		if errors.As(err, &ae) {
			for _, e := range ae {
				out = append(out, fromASTError(e))
			}
			return
		}
		var e1 *ast.Error
		if errors.As(err, &e1) {
			out = append(out, fromASTError(e1))
			return
		}
		out = append(out, &Error{Message: err.Error()})
	}
	add(err)
	return out
}

func fromASTError(e *ast.Error) *Error {
	out := &Error{Code: e.Code, Message: e.Message}
	if e.Details != nil {
		out.Details = e.Details.Lines()
	}
	if e.Location != nil {
		out.File, out.Line, out.Column = e.Location.File, e.Location.Row, e.Location.Col
	}
	return out
}
