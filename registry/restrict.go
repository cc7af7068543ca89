package registry

// Restrictor is an optional interface of an ObjectSource: a source that
// knows which hosts and ports the gateway is meant to serve (the Istio
// Gateways that select it) narrows the declared set to them.
type Restrictor interface {
	// Restriction returns whether a ServiceEntry of namespace ns may
	// declare host pattern on port; on is false when nothing restricts.
	Restriction() (allow func(ns, pattern string, port int) bool, on bool)
}

// restrict drops the host routes allow refuses from a snapshot being
// built (not yet in force): a host:port so dropped is undeclared, and a
// host left with no port is unknown, to the data plane and the DNS proxy
// alike. Routes by IP address and CIDR are kept: a Gateway lists names.
func (s *Snapshot) restrict(allow func(ns, pattern string, port int) bool) {
	keep := func(rec *hostRecord) bool {
		for port, r := range rec.routes {
			if !allow(r.Entry.Namespace, rec.pattern, port) {
				delete(rec.routes, port)
			}
		}
		return len(rec.routes) > 0
	}
	for k, rec := range s.exact {
		if !keep(rec) {
			delete(s.exact, k)
		}
	}
	for k, rec := range s.wild {
		if !keep(rec) {
			delete(s.wild, k)
		}
	}
	partial := s.partial[:0]
	for _, rec := range s.partial {
		if keep(rec) {
			partial = append(partial, rec)
		}
	}
	s.partial = partial
}
