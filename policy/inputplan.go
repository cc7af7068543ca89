package policy

import (
	"github.com/open-policy-agent/opa/v1/ast"
)

// inputPlan says which parts of the input document a compiled policy can
// read. Building the input is a large share of a decision's cost, and a
// typical policy reads a handful of fields (the identity, the destination's
// ServiceEntry, the method and path), so the engine builds only those.
//
// The plan is derived from every reference to input in the compiled
// modules, and it is conservative: a reference to a whole subtree
// (input.request), a reference with a variable key (input.request.headers[h])
// or a bare input keeps that subtree complete; only fields that no
// reference can reach are left out. A policy therefore sees exactly the
// values it would see with the complete document.
//
// A nil *inputPlan node means "not read"; a node with all set means "the
// whole subtree".
type inputPlan struct {
	all      bool
	children map[string]*inputPlan
}

// fullPlan reads everything (used when no analysis is wanted).
func fullPlan() *inputPlan { return &inputPlan{all: true} }

// child returns the plan for key, nil when the key is not read.
func (p *inputPlan) child(key string) *inputPlan {
	if p == nil {
		return nil
	}
	if p.all {
		return p
	}
	return p.children[key]
}

// has reports whether key is read.
func (p *inputPlan) has(key string) bool { return p.child(key) != nil }

// add marks the subtree at path as read in full.
func (p *inputPlan) add(path []string) {
	n := p
	for _, k := range path {
		if n.all {
			return
		}
		if n.children == nil {
			n.children = map[string]*inputPlan{}
		}
		c := n.children[k]
		if c == nil {
			c = &inputPlan{}
			n.children[k] = c
		}
		n = c
	}
	n.all = true
	n.children = nil
}

// planInput walks the compiled modules and returns the parts of input
// they can read.
func planInput(modules map[string]*ast.Module) *inputPlan {
	plan := &inputPlan{}
	var vis *ast.GenericVisitor
	vis = ast.NewGenericVisitor(func(x any) bool {
		switch x := x.(type) {
		case ast.Ref:
			if len(x) == 0 || !x[0].Equal(ast.InputRootDocument) {
				return false
			}
			var path []string
			for _, t := range x[1:] {
				s, ok := t.Value.(ast.String)
				if !ok {
					break // a variable or non-string key: keep the subtree
				}
				path = append(path, string(s))
			}
			plan.add(path)
			// Do not descend into the head (a bare input var) but do visit
			// the operands: input.a[input.b] reads input.b too.
			for _, t := range x[1:] {
				vis.Walk(t)
			}
			return true
		case ast.Var:
			if x.Equal(ast.InputRootDocument.Value) {
				plan.add(nil) // a bare input (e.g. walk(input)): everything
			}
		}
		return false
	})
	for _, m := range modules {
		vis.Walk(m)
	}
	return plan
}
