package audit

// The API the data plane (egress, dnsproxy) and cmd/sluice rely on
// (docs/contract.md §8). Implemented by *Auditor (auditor.go); the stores
// Open may open are those of Options.Stores (cmd/sluice/stores.go):
//
//	func Open(ctx context.Context, opts Options) (*Auditor, error)
//	// Begin assigns ID, Seq and Gateway and returns once the decision part
//	// of r is durable (group commit). An error means nothing was recorded:
//	// with on_failure=deny the caller refuses the call (503 audit_unavailable).
//	func (a *Auditor) Begin(ctx context.Context, r *Record) error
//	// End records the outcome of a call begun with Begin (TimeEnd, Status,
//	// Error, bytes, DialedIP, TLSVersion…); the Auditor computes duration,
//	// meter and cost. It does not wait for the disk. Call it once per
//	// record; a second call is ignored.
//	func (a *Auditor) End(r *Record)
//	// Complete writes a whole record (a denial, a DNS query) in one insert and
//	// returns once it is durable.
//	func (a *Auditor) Complete(ctx context.Context, r *Record) error
//	// OnFailureDeny reports whether audit.on_failure is deny.
//	func (a *Auditor) OnFailureDeny() bool
//	// Ready is nil while the store accepts writes (for /readyz).
//	func (a *Auditor) Ready() error
//	// Reader answers queries once the spool has reached the store, and
//	// Damage lists the damage found: audit/httpapi serves both on the
//	// admin API (GET /v1/audit, GET /v1/cost).
//	func (a *Auditor) Reader() Reader
//	func (a *Auditor) Damage() []spool.DamageEvent
//	// Close flushes pending outcomes and closes the store.
//	func (a *Auditor) Close(ctx context.Context) error
