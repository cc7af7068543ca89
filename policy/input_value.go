package policy

import (
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The keys of the input document, built once and never modified (OPA
// treats terms as immutable), so every input shares them.
var (
	kSource         = ast.StringTerm("source")
	kIdentity       = ast.StringTerm("identity")
	kIdentitySource = ast.StringTerm("identity_source")
	kIP             = ast.StringTerm("ip")
	kWorkload       = ast.StringTerm("workload")
	kDestination    = ast.StringTerm("destination")
	kHost           = ast.StringTerm("host")
	kPort           = ast.StringTerm("port")
	kServiceEntry   = ast.StringTerm("service_entry")
	kName           = ast.StringTerm("name")
	kNamespace      = ast.StringTerm("namespace")
	kProtocol       = ast.StringTerm("protocol")
	kLabels         = ast.StringTerm("labels")
	kAnnotations    = ast.StringTerm("annotations")
	kRequest        = ast.StringTerm("request")
	kKind           = ast.StringTerm("kind")
	kMethod         = ast.StringTerm("method")
	kPath           = ast.StringTerm("path")
	kHeaders        = ast.StringTerm("headers")
	kSNI            = ast.StringTerm("sni")
	kTLSOrigination = ast.StringTerm("tls_origination")
	kTime           = ast.StringTerm("time")
)

// Value returns in as the OPA input document of docs/contract.md §5, built
// directly as an ast.Object (no JSON round trip). Header keys are used as
// given (the caller lower-cases them); a nil ServiceEntry is null; time is
// RFC 3339 in UTC.
func (in *Input) Value() ast.Value { return in.value(fullPlan()) }

// value builds the parts of the input that plan reads.
func (in *Input) value(plan *inputPlan) ast.Value {
	var b termBuf
	items := make([][2]*ast.Term, 0, 4)
	if p := plan.child("source"); p != nil {
		items = append(items, ast.Item(kSource, b.term(in.Source.value(p, &b))))
	}
	if p := plan.child("destination"); p != nil {
		items = append(items, ast.Item(kDestination, b.term(in.Destination.value(p, &b))))
	}
	if p := plan.child("request"); p != nil {
		items = append(items, ast.Item(kRequest, b.term(in.Request.value(p, &b))))
	}
	if plan.has("time") {
		items = append(items, ast.Item(kTime, b.str(formatTime(in.Time))))
	}
	return ast.NewObject(items...)
}

func (s *Source) value(p *inputPlan, b *termBuf) ast.Value {
	items := make([][2]*ast.Term, 0, 4)
	items = b.add(items, p, kIdentity, s.Identity)
	items = b.add(items, p, kIdentitySource, s.IdentitySource)
	items = b.add(items, p, kIP, s.IP)
	items = b.add(items, p, kWorkload, s.Workload)
	return ast.NewObject(items...)
}

func (d *Destination) value(p *inputPlan, b *termBuf) ast.Value {
	items := make([][2]*ast.Term, 0, 3)
	items = b.add(items, p, kHost, d.Host)
	if p.has("port") {
		items = append(items, ast.Item(kPort, ast.InternedTerm(d.Port)))
	}
	if sp := p.child("service_entry"); sp != nil {
		if d.ServiceEntry == nil {
			items = append(items, ast.Item(kServiceEntry, ast.InternedNullTerm))
		} else {
			items = append(items, ast.Item(kServiceEntry, b.term(d.ServiceEntry.value(sp, b))))
		}
	}
	return ast.NewObject(items...)
}

func (se *ServiceEntryRef) value(p *inputPlan, b *termBuf) ast.Value {
	items := make([][2]*ast.Term, 0, 5)
	items = b.add(items, p, kName, se.Name)
	items = b.add(items, p, kNamespace, se.Namespace)
	items = b.add(items, p, kProtocol, se.Protocol)
	if lp := p.child("labels"); lp != nil {
		items = append(items, ast.Item(kLabels, b.stringMap(lp, se.Labels)))
	}
	if ap := p.child("annotations"); ap != nil {
		items = append(items, ast.Item(kAnnotations, b.stringMap(ap, se.Annotations)))
	}
	return ast.NewObject(items...)
}

func (r *Request) value(p *inputPlan, b *termBuf) ast.Value {
	items := make([][2]*ast.Term, 0, 6)
	items = b.add(items, p, kKind, r.Kind)
	items = b.add(items, p, kMethod, r.Method)
	items = b.add(items, p, kPath, r.Path)
	if hp := p.child("headers"); hp != nil {
		items = append(items, ast.Item(kHeaders, b.headers(hp, r.Headers)))
	}
	items = b.add(items, p, kSNI, r.SNI)
	if p.has("tls_origination") {
		items = append(items, ast.Item(kTLSOrigination, ast.InternedTerm(r.TLSOrigination)))
	}
	return ast.NewObject(items...)
}

// termBuf hands out terms from slabs, so that an input costs a few
// allocations for its terms instead of one per value.
type termBuf struct {
	terms []ast.Term
	ptrs  []*ast.Term
}

// term returns a term holding v.
func (b *termBuf) term(v ast.Value) *ast.Term {
	if len(b.terms) == 0 {
		b.terms = make([]ast.Term, 24)
	}
	t := &b.terms[0]
	b.terms = b.terms[1:]
	t.Value = v
	return t
}

// str returns a term holding s ("" is OPA's shared empty string term).
func (b *termBuf) str(s string) *ast.Term {
	if s == "" {
		return ast.InternedEmptyString
	}
	return b.term(ast.String(s))
}

// list returns a slice of n term pointers.
func (b *termBuf) list(n int) []*ast.Term {
	if len(b.ptrs) < n {
		b.ptrs = make([]*ast.Term, max(n, 16))
	}
	l := b.ptrs[:n:n]
	b.ptrs = b.ptrs[n:]
	return l
}

// add appends key: s when plan reads key.
func (b *termBuf) add(items [][2]*ast.Term, p *inputPlan, key *ast.Term, s string) [][2]*ast.Term {
	if !p.has(string(key.Value.(ast.String))) {
		return items
	}
	return append(items, ast.Item(key, b.str(s)))
}

// stringMap converts labels or annotations; p.all means every key,
// otherwise only the keys the policy names.
func (b *termBuf) stringMap(p *inputPlan, m map[string]string) *ast.Term {
	if len(m) == 0 {
		return b.term(ast.NewObject())
	}
	items := make([][2]*ast.Term, 0, len(m))
	for k, v := range m {
		if p.all || p.children[k] != nil {
			items = append(items, ast.Item(b.str(k), b.str(v)))
		}
	}
	return b.term(ast.NewObject(items...))
}

// headers converts request headers (lower-case name → values).
func (b *termBuf) headers(p *inputPlan, h map[string][]string) *ast.Term {
	if len(h) == 0 {
		return b.term(ast.NewObject())
	}
	items := make([][2]*ast.Term, 0, len(h))
	for k, vs := range h {
		if !p.all && p.children[k] == nil {
			continue
		}
		elems := b.list(len(vs))
		for i, v := range vs {
			elems[i] = b.str(v)
		}
		items = append(items, ast.Item(b.str(k), b.term(ast.NewArray(elems...))))
	}
	return b.term(ast.NewObject(items...))
}

// formatTime renders t as RFC 3339 in UTC.
func formatTime(t time.Time) string {
	var buf [40]byte
	return string(t.UTC().AppendFormat(buf[:0], time.RFC3339))
}
