package dnsproxy

// The API the rest of Sluice relies on. Implemented in this package:
//
//	// Resolver is the gateway's own resolver (used by the egress dialer).
//	func NewResolver(opts ResolverOptions) *Resolver
//	// LookupIP resolves host (A and AAAA) through the upstreams, with the
//	// cache, negative caching and coalescing. Every address passes the
//	// netguard check: forbidden ones are dropped; when nothing is left the
//	// error is a *netguard.ForbiddenError (reason forbidden_address). An
//	// unknown name or failing upstreams give an error wrapping ErrNotFound
//	// or ErrUpstream (reason dns_failure).
//	func (r *Resolver) LookupIP(ctx context.Context, host string) ([]netip.Addr, error)
//
//	// Server is the DNS proxy on the dns listener (UDP and TCP).
//	func NewServer(opts ServerOptions) (*Server, error)
//	func (s *Server) Start(ctx context.Context) error // binds, returns when listening
//	func (s *Server) Shutdown(ctx context.Context) error
