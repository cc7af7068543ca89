package policy

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Partial evaluation unrolls iteration over data and constants; a policy
// that loops over a large range could make it run long and produce huge
// residual rules. It is abandoned (and the policy evaluated as written)
// after this many expression evaluations or this long.
const (
	partialBudget  = 100_000
	partialTimeout = 500 * time.Millisecond
)

// budget is the topdown.Cancel of partial evaluation: it cancels after
// left expressions or at until.
type budget struct {
	left  int
	until time.Time
	done  bool
}

func (b *budget) Cancel() { b.done = true }

func (b *budget) Cancelled() bool {
	b.left--
	if b.left < 0 || (b.left%256 == 0 && time.Now().After(b.until)) {
		b.done = true
	}
	return b.done
}

// partialNamespace is the package of the rules partial evaluation
// generates (data.sluice_partial...).
const partialNamespace = "sluice_partial"

// partialEval partially evaluates the allow query with input unknown and
// compiles the support rules it generates next to the original modules.
// It fails when OPA cannot do it, when it runs out of budget, or when it
// leaves more than one residual query; the caller then evaluates the
// policy as written.
func partialEval(ctx context.Context, c *ast.Compiler, store storage.Store, txn storage.Transaction,
	modules map[string]*ast.Module, query ast.Body) (*ast.Compiler, ast.Body, error) {
	parts, support, err := topdown.NewQuery(query).
		WithCompiler(c).
		WithStore(store).
		WithTransaction(txn).
		WithUnknowns([]*ast.Term{ast.NewTerm(ast.InputRootRef)}).
		WithPartialNamespace(partialNamespace).
		WithCancel(&budget{left: partialBudget, until: time.Now().Add(partialTimeout)}).
		PartialRun(ctx)
	switch {
	case err != nil:
		return nil, nil, err
	case len(parts) != 1:
		return nil, nil, fmt.Errorf("%d residual queries", len(parts))
	}
	all := make(map[string]*ast.Module, len(modules)+len(support))
	maps.Copy(all, modules)
	for i, m := range support {
		all[fmt.Sprintf("%s/support_%d.rego", partialNamespace, i)] = m
	}
	c2 := newCompiler(ctx, store, txn)
	c2.Compile(all)
	if c2.Failed() {
		return nil, nil, c2.Errors
	}
	q, err := c2.QueryCompiler().Compile(parts[0])
	if err != nil {
		return nil, nil, err
	}
	return c2, q, nil
}
