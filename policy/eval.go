package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Errors of a decision; Decide wraps them with details.
var (
	// ErrUndefined: data.sluice.egress.allow has no value for the input.
	ErrUndefined = errors.New("data.sluice.egress.allow is undefined")
	// ErrTimeout: the evaluation took longer than policy.timeout.
	ErrTimeout = errors.New("policy evaluation timed out")
	// ErrNotLoaded: a remote bundle is configured and none is active yet.
	ErrNotLoaded = errors.New("waiting for the first policy bundle")
)

// eval decides for in. It goes straight to OPA's evaluator (topdown)
// with the compiled queries: no rego.Rego wrapper, no goroutine per
// evaluation, no conversion of results to Go values. The allow query runs
// first; the reasons query runs only when allow is false, sharing the
// evaluation cache so that rules both need are evaluated once.
func (p *prepared) eval(ctx context.Context, in *Input, timeout time.Duration) (allow bool, reasons []string, err error) {
	now := in.Time
	if now.IsZero() {
		now = time.Now()
	}
	d := newDeadline(ctx, timeout)
	if p.blocking {
		// Builtins that wait on the network watch the context, not the
		// deadline counter.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.at)
		defer cancel()
	}
	txn, err := p.store.NewTransaction(ctx)
	if err != nil {
		return false, nil, fmt.Errorf("policy: store: %w", err)
	}
	defer p.store.Abort(ctx, txn)
	input := ast.NewTerm(in.value(p.plan))
	vc := topdown.NewVirtualCache()
	run := func(query ast.Body, read func(topdown.QueryResult) error) (bool, error) {
		found := false
		err := topdown.NewQuery(query).
			WithCompiler(p.compiler).
			WithStore(p.store).
			WithTransaction(txn).
			WithInput(input).
			WithCancel(d).
			WithMetrics(metrics.NoOp()).
			WithVirtualCache(vc).
			WithTime(now).
			Iter(ctx, func(qr topdown.QueryResult) error {
				if found {
					return nil
				}
				found = true
				return read(qr)
			})
		return found, err
	}
	found, err := run(p.allow, func(qr topdown.QueryResult) error {
		allow, err = readAllow(qr)
		return err
	})
	if err == nil && !found {
		err = ErrUndefined
	}
	if err == nil && !allow {
		_, err = run(p.reasons, func(qr topdown.QueryResult) error {
			reasons = readReasons(qr)
			return nil
		})
	}
	if err != nil {
		var te *topdown.Error
		if errors.As(err, &te) && te.Code == topdown.CancelErr {
			if ctx.Err() != nil && !d.expired() {
				return false, nil, fmt.Errorf("policy evaluation cancelled: %w", ctx.Err())
			}
			return false, nil, fmt.Errorf("%w after %s", ErrTimeout, timeout)
		}
		return false, nil, err
	}
	return allow, reasons, nil
}

// readAllow reads the allow query's binding: a boolean, or an error.
func readAllow(qr topdown.QueryResult) (bool, error) {
	at := qr[varAllow]
	if at == nil {
		return false, ErrUndefined
	}
	b, ok := at.Value.(ast.Boolean)
	if !ok {
		return false, fmt.Errorf("data.sluice.egress.allow is %s, not a boolean", ast.ValueName(at.Value))
	}
	return bool(b), nil
}

// readReasons reads the reasons set, sorted; a reason that is not a
// string is kept in its Rego form.
func readReasons(qr topdown.QueryResult) []string {
	t := qr[varReasons]
	if t == nil {
		return nil
	}
	s, ok := t.Value.(ast.Set)
	if !ok || s.Len() == 0 {
		return nil
	}
	reasons := make([]string, 0, s.Len())
	s.Foreach(func(t *ast.Term) {
		if str, ok := t.Value.(ast.String); ok {
			reasons = append(reasons, string(str))
		} else {
			reasons = append(reasons, t.String())
		}
	})
	slices.Sort(reasons)
	return reasons
}

// deadline is the evaluation's topdown.Cancel. OPA asks Cancelled before
// every expression; checking the clock every 32 asks bounds the
// evaluation without a timer or goroutine per decision. One evaluation
// runs on one goroutine, so no locking is needed.
type deadline struct {
	ctx       context.Context
	at        time.Time
	n         uint32
	cancelled bool
}

func newDeadline(ctx context.Context, timeout time.Duration) *deadline {
	at := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(at) {
		at = dl
	}
	return &deadline{ctx: ctx, at: at}
}

// Cancel stops the evaluation.
func (d *deadline) Cancel() { d.cancelled = true }

// Cancelled reports whether the deadline passed or the context ended.
func (d *deadline) Cancelled() bool {
	if d.cancelled {
		return true
	}
	d.n++
	if d.n&31 != 0 {
		return false
	}
	if d.expired() || d.ctx.Err() != nil {
		d.cancelled = true
	}
	return d.cancelled
}

func (d *deadline) expired() bool { return !time.Now().Before(d.at) }
