package policy

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/lineage"
)

// TestOptions configure RunTests.
type TestOptions struct {
	// Paths hold the policy and its *_test.rego files.
	Paths []string
	// Verbose prints every test (PASS lines, notes), like opa test -v.
	Verbose bool
	// Run selects tests by a regular expression, like opa test --run.
	Run string
	// Timeout bounds each test (default 5s, as opa test).
	Timeout time.Duration
	// JSON prints results as opa test --format json does.
	JSON bool
	// Output receives the report.
	Output io.Writer
}

// TestSummary counts the results of RunTests.
type TestSummary struct {
	Passed, Failed, Errored, Skipped int
	// Failures names every test that failed or errored (data.pkg.test_x).
	Failures []string
}

// RunTests runs the Rego unit tests (test_ rules) under opts.Paths with
// `opa test` semantics and output. The policy is loaded exactly as the
// gateway loads it (bundles included), plus the *_test.rego files. The
// error is for a policy that does not load or compile (Errors with file,
// line and column); failed tests are counted in the summary.
func RunTests(ctx context.Context, opts TestOptions) (TestSummary, error) {
	var sum TestSummary
	src, err := loadPaths(opts.Paths, true)
	if err != nil {
		return sum, err
	}
	store := inmem.NewFromObjectWithOpts(src.data, inmem.OptRoundTripOnWrite(false))
	txn, err := store.NewTransaction(ctx, storage.WriteParams)
	if err != nil {
		return sum, fmt.Errorf("policy: store: %w", err)
	}
	defer store.Abort(ctx, txn)

	compiler := ast.NewCompiler().
		WithCapabilities(ast.CapabilitiesForThisVersion()).
		WithDefaultRegoVersion(ast.RegoV1).
		WithEnablePrintStatements(true).
		WithUseTypeCheckAnnotations(true).
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn))
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	runner := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(store).
		SetDefaultRegoVersion(ast.RegoV1).
		CapturePrintOutput(true).
		EnableTracing(opts.Verbose).
		StackTraces(true).
		SetModules(src.modules).
		SetTimeout(timeout).
		Filter(opts.Run)
	ch, err := runner.RunTests(ctx, txn)
	if err != nil {
		return sum, asErrors(err)
	}

	var reporter tester.Reporter = tester.PrettyReporter{Output: opts.Output, Verbose: opts.Verbose}
	if opts.JSON {
		reporter = tester.JSONReporter{Output: opts.Output}
	}
	counted := make(chan *tester.Result)
	go func() {
		defer close(counted)
		for r := range ch {
			switch {
			case r.Skip:
				sum.Skipped++
			case r.Error != nil:
				sum.Errored++
				sum.Failures = append(sum.Failures, r.Package+"."+r.Name)
			case r.Fail:
				sum.Failed++
				sum.Failures = append(sum.Failures, r.Package+"."+r.Name)
			default:
				sum.Passed++
			}
			if opts.Verbose {
				// As opa test -v: keep notes and failures of the trace.
				r.Trace = lineage.Filter(r.Trace, func(ev *topdown.Event) bool {
					return ev.Op == topdown.NoteOp || ev.Op == topdown.FailOp
				})
			}
			counted <- r
		}
	}()
	if err := reporter.Report(counted); err != nil {
		return sum, fmt.Errorf("policy: test report: %w", err)
	}
	return sum, nil
}
