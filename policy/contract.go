package policy

// The API the data plane (egress) relies on. Implemented in this package:
//
//	func New(ctx context.Context, opts Options) (*Engine, error)
//	// Decide evaluates data.sluice.egress.allow and .reasons for in. It never
//	// returns an error: evaluation errors, undefined results and timeouts are
//	// a denial with Reasons ["policy_error: ..."] and Error set.
//	func (e *Engine) Decide(ctx context.Context, in *Input) Decision
//	// Run watches policy.paths (and polls policy.bundle.url) until ctx ends,
//	// swapping in each new policy that compiles.
//	func (e *Engine) Run(ctx context.Context) error
//	// Reload recompiles now (SIGHUP); the last good policy stays on failure.
//	func (e *Engine) Reload(ctx context.Context) error
//	func (e *Engine) Status() Status
//
// Input is docs/contract.md §5's input document (input.go).
