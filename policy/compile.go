package policy

import (
	"context"
	"errors"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// The documents the gateway asks for (docs/contract.md §5).
var (
	allowRef   = ast.MustParseRef("data.sluice.egress.allow")
	reasonsRef = ast.MustParseRef("data.sluice.egress.reasons")
)

// The variables of the decision query.
const (
	varAllow   = ast.Var("sluice_allow")
	varReasons = ast.Var("sluice_reasons")
)

// isBlocking reports whether a builtin may wait on the network; a policy
// that calls one gets a context deadline on every evaluation (eval.go).
func isBlocking(builtin string) bool {
	switch builtin {
	case "http.send", "net.lookup_ip_addr":
		return true
	}
	return false
}

// prepared is one compiled policy, ready to evaluate: immutable, shared by
// every decision until the next reload swaps in another.
type prepared struct {
	// allowAll is set when there is no Rego at all: every call is allowed
	// (the registry is the floor).
	allowAll bool
	// waiting, when set, denies every call with this error: a remote bundle
	// is configured but none has been activated yet.
	waiting error

	compiler *ast.Compiler
	store    storage.Store
	// allow binds varAllow to data.sluice.egress.allow; after partial
	// evaluation it is the residual query.
	allow ast.Body
	// reasons binds varReasons to the set data.sluice.egress.reasons; it
	// runs only when allow is false.
	reasons ast.Body
	// partial is set when allow is the partially evaluated query;
	// otherwise partialErr says why not.
	partial    bool
	partialErr error
	// plan is the part of the input the policy can read.
	plan *inputPlan
	// blocking is set when the policy calls builtins that wait on the
	// network.
	blocking bool
	// cache holds decisions when they depend only on the planned input
	// (nil otherwise, or when the engine turns caching off).
	cache *decisionCache

	src *source
}

// compileOptions tune compile.
type compileOptions struct {
	// noPartial turns partial evaluation off.
	noPartial bool
	// noCache turns the decision cache off.
	noCache bool
}

// compile builds a prepared policy from src. With no modules the result
// allows everything. Errors are Errors naming file, line and column.
//
// After compiling the modules as OPA does, compile partially evaluates
// data.sluice.egress.allow with input unknown (what `opa build -O=1`
// does): everything that does not depend on input (data lookups, helper
// rules, constant sets) is evaluated once here, and the residual rules
// are what each decision runs. If partial evaluation fails or does not
// reduce the query to one residual, the policy is evaluated as written.
func compile(ctx context.Context, src *source, opts compileOptions) (*prepared, error) {
	if len(src.modules) == 0 {
		return &prepared{allowAll: true, src: src}, nil
	}
	store := inmem.NewFromObjectWithOpts(src.data,
		inmem.OptRoundTripOnWrite(false),
		inmem.OptReturnASTValuesOnRead(true))
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy: store: %w", err)
	}
	defer store.Abort(ctx, txn)

	c := newCompiler(ctx, store, txn)
	c.Compile(src.modules)
	if c.Failed() {
		return nil, asErrors(c.Errors)
	}
	if len(c.GetRulesExact(allowRef)) == 0 && !hasData(src.data, allowRef) {
		return nil, Errors{{Message: "no rule defines data.sluice.egress.allow: the policy needs `package sluice.egress` " +
			"with an allow rule (start from `default allow := false`)"}}
	}
	p := &prepared{compiler: c, store: store, src: src}
	if p.allow, err = c.QueryCompiler().Compile(allowQuery(allowRef)); err != nil {
		return nil, asErrors(err)
	}
	if opts.noPartial {
		p.partialErr = errors.New("turned off")
	} else if c2, q, err := partialEval(ctx, c, store, txn, src.modules, p.allow); err != nil {
		p.partialErr = err
	} else {
		p.compiler, p.allow, p.partial = c2, q, true
	}
	if p.reasons, err = p.compiler.QueryCompiler().Compile(reasonsQuery()); err != nil {
		es := asErrors(err)
		for _, e := range es {
			e.Message = "data.sluice.egress.reasons must be a set of strings: " + e.Message
		}
		return nil, es
	}
	p.plan = planInput(p.compiler.Modules)
	for _, m := range p.compiler.Modules {
		ast.WalkExprs(m, func(e *ast.Expr) bool {
			if e.IsCall() && isBlocking(e.Operator().String()) {
				p.blocking = true
			}
			return p.blocking
		})
	}
	if !opts.noCache && cacheable(p.plan, p.compiler.Modules) {
		p.cache = newDecisionCache()
	}
	return p, nil
}

// newCompiler returns OPA's compiler with the options of `opa run`:
// Rego v1, this version's builtins, type-check annotations, rules that
// may not overlap data. print is compiled out (the gateway has no
// console for it; `sluice policy test` keeps it).
func newCompiler(ctx context.Context, store storage.Store, txn storage.Transaction) *ast.Compiler {
	return ast.NewCompiler().
		WithCapabilities(ast.CapabilitiesForThisVersion()).
		WithDefaultRegoVersion(ast.RegoV1).
		WithUseTypeCheckAnnotations(true).
		WithEnablePrintStatements(false).
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn))
}

// allowQuery is `sluice_allow = <ref>`.
func allowQuery(ref ast.Ref) ast.Body {
	return ast.NewBody(ast.Equality.Expr(ast.NewTerm(varAllow), ast.NewTerm(ref)))
}

// reasonsQuery is `sluice_reasons = {r | r = data.sluice.egress.reasons[_]}`:
// an undefined or empty reasons is an empty set, never an undefined query.
func reasonsQuery() ast.Body {
	r := ast.VarTerm("r")
	return ast.NewBody(ast.Equality.Expr(ast.NewTerm(varReasons), ast.SetComprehensionTerm(r,
		ast.NewBody(ast.Equality.Expr(r, ast.NewTerm(reasonsRef.Append(ast.VarTerm("_"))))))))
}

// hasData reports whether the data documents define ref (data.a.b.c).
func hasData(data map[string]any, ref ast.Ref) bool {
	var cur any = data
	for _, t := range ref[1:] {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		s, ok := t.Value.(ast.String)
		if !ok {
			return false
		}
		if cur, ok = m[string(s)]; !ok {
			return false
		}
	}
	return true
}

// Compile loads and compiles the policy at paths without running it, for
// `sluice validate`. The error, if any, is an Errors naming file, line and
// column of every problem.
func Compile(ctx context.Context, paths []string) error {
	src, err := loadPaths(paths, false)
	if err != nil {
		return err
	}
	_, err = compile(ctx, src, compileOptions{})
	return err
}
