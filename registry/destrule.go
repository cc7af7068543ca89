package registry

import "strings"

// drIndex finds the DestinationRules that may apply to a ServiceEntry
// host without trying every rule for every host (which made a load of
// 100,000 entries and 20,000 rules take minutes).
type drIndex struct {
	exact map[string][]*Resource // by expanded host, wildcard patterns included, in load order
	wild  map[string][]*Resource // "*.x.y" rules by ".x.y", in load order
	any   []*Resource            // host "*": every host
}

func newDRIndex(drs []*Resource) *drIndex {
	ix := &drIndex{exact: map[string][]*Resource{}, wild: map[string][]*Resource{}}
	for _, dr := range drs {
		h := drHost(dr)
		switch {
		case h == "*":
			ix.any = append(ix.any, dr)
			continue
		case strings.HasPrefix(h, "*."):
			ix.wild[h[1:]] = append(ix.wild[h[1:]], dr)
		}
		ix.exact[h] = append(ix.exact[h], dr)
	}
	return ix
}

// candidates returns the most specific rules for host, all equally so:
// the rules for exactly host (a pattern matches its own rules), else
// those of the longest wildcard covering it, else those for "*".
func (ix *drIndex) candidates(host string) []*Resource {
	if rs := ix.exact[host]; rs != nil {
		return rs
	}
	for i := 1; i < len(host); i++ {
		if host[i] == '.' {
			if rs := ix.wild[host[i:]]; rs != nil {
				return rs
			}
		}
	}
	return ix.any
}

// drHost expands a DestinationRule host the way Istio does: a short name is
// <name>.<namespace>.svc.cluster.local.
func drHost(r *Resource) string {
	h := NormalizeHost(r.DestinationRule.Host)
	if !strings.Contains(h, ".") && !IsWildcard(h) {
		h = h + "." + r.Metadata.Namespace + ".svc.cluster.local"
	}
	return h
}

// destinationRule picks the rule for a ServiceEntry host: an exact host
// first, else the most specific wildcard covering it; among equals, one in
// the entry's namespace, else the first loaded (with a warning).
func (b *builder) destinationRule(e *Entry, host string, ds *Diagnostics) *Resource {
	best := b.drs.candidates(host)
	if len(b.opts.PodLabels) > 0 {
		best = b.forGateway(best)
	}
	if len(best) == 0 {
		return nil
	}
	pick := best[0]
	for _, dr := range best {
		if dr.Metadata.Namespace == e.Namespace {
			pick = dr
			break
		}
	}
	if len(best) > 1 {
		*ds = append(*ds, pick.diag(SevWarning, "spec.host", "%d DestinationRules apply to host %s; using %s", len(best), host, pick.ID()))
	}
	b.used[pick] = true
	return pick
}
