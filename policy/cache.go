package policy

import (
	"hash/maphash"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// decisionCache remembers decisions of one compiled policy. It is exact,
// not a heuristic: the key holds every input value the policy can read
// (the input plan), a policy's data is fixed for the life of its compiled
// form, and a policy that reads input.time or calls a non-deterministic
// builtin (time.now_ns, http.send, rand.intn, …) is never cached. A new
// policy gets a new, empty cache. Evaluating costs tens of µs and
// hundreds of allocations; a hit costs one map lookup.
//
// Errors are never cached: a timeout may not recur.
type decisionCache struct {
	seed   maphash.Seed
	shards [16]cacheShard
}

type cacheShard struct {
	mu sync.Mutex
	m  map[string]cachedDecision
}

type cachedDecision struct {
	allow   bool
	reasons []string // shared, read-only
}

// maxPerShard bounds the cache (16 × 4096 decisions); a full shard is
// emptied rather than tracked for recency: cheap, and the working set of
// an egress gateway (callers × destinations × methods × path classes) is
// usually far smaller.
const maxPerShard = 4096

func newDecisionCache() *decisionCache {
	c := &decisionCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]cachedDecision)
	}
	return c
}

func (c *decisionCache) shard(key string) *cacheShard {
	return &c.shards[maphash.String(c.seed, key)%uint64(len(c.shards))]
}

func (c *decisionCache) get(key string) (cachedDecision, bool) {
	s := c.shard(key)
	s.mu.Lock()
	d, ok := s.m[key]
	s.mu.Unlock()
	return d, ok
}

func (c *decisionCache) put(key string, d cachedDecision) {
	s := c.shard(key)
	s.mu.Lock()
	if len(s.m) >= maxPerShard {
		clear(s.m)
	}
	s.m[key] = d
	s.mu.Unlock()
}

// cacheable reports whether decisions of the compiled modules depend only
// on the planned input: no input.time, no non-deterministic builtin.
func cacheable(plan *inputPlan, modules map[string]*ast.Module) bool {
	if plan.has("time") {
		return false
	}
	builtins := ast.BuiltinMap
	ok := true
	for _, m := range modules {
		ast.WalkExprs(m, func(e *ast.Expr) bool {
			if e.IsCall() {
				if b, found := builtins[e.Operator().String()]; found && b.Nondeterministic {
					ok = false
				}
			}
			return !ok
		})
		if !ok {
			return false
		}
	}
	return true
}

// cacheKey renders exactly the input values plan reads, with field
// separators that cannot occur unescaped in the values.
func cacheKey(plan *inputPlan, in *Input) string {
	var b strings.Builder
	b.Grow(128)
	if p := plan.child("source"); p != nil {
		keyStr(&b, p, "identity", in.Source.Identity)
		keyStr(&b, p, "identity_source", in.Source.IdentitySource)
		keyStr(&b, p, "ip", in.Source.IP)
		keyStr(&b, p, "workload", in.Source.Workload)
	}
	b.WriteByte(0)
	if p := plan.child("destination"); p != nil {
		keyStr(&b, p, "host", in.Destination.Host)
		if p.has("port") {
			b.WriteString(strconv.Itoa(in.Destination.Port))
			b.WriteByte(1)
		}
		if sp := p.child("service_entry"); sp != nil {
			if se := in.Destination.ServiceEntry; se == nil {
				b.WriteString("\x02null")
			} else {
				keyStr(&b, sp, "name", se.Name)
				keyStr(&b, sp, "namespace", se.Namespace)
				keyStr(&b, sp, "protocol", se.Protocol)
				if lp := sp.child("labels"); lp != nil {
					keyMap(&b, lp, se.Labels)
				}
				if ap := sp.child("annotations"); ap != nil {
					keyMap(&b, ap, se.Annotations)
				}
			}
		}
	}
	b.WriteByte(0)
	if p := plan.child("request"); p != nil {
		keyStr(&b, p, "kind", in.Request.Kind)
		keyStr(&b, p, "method", in.Request.Method)
		keyStr(&b, p, "path", in.Request.Path)
		if hp := p.child("headers"); hp != nil {
			for _, k := range plannedKeys(hp, in.Request.Headers) {
				quote(&b, k)
				for _, v := range in.Request.Headers[k] {
					quote(&b, v)
				}
				b.WriteByte(3)
			}
			b.WriteByte(1)
		}
		keyStr(&b, p, "sni", in.Request.SNI)
		if p.has("tls_origination") {
			b.WriteString(strconv.FormatBool(in.Request.TLSOrigination))
		}
	}
	return b.String()
}

func keyStr(b *strings.Builder, p *inputPlan, field, v string) {
	if p.has(field) {
		quote(b, v)
	}
}

func keyMap(b *strings.Builder, p *inputPlan, m map[string]string) {
	for _, k := range plannedKeys(p, m) {
		quote(b, k)
		quote(b, m[k])
	}
	b.WriteByte(1)
}

// plannedKeys returns the keys of m that the plan p reads, sorted.
func plannedKeys[V any](p *inputPlan, m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if p.all || p.children[k] != nil {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// quote writes s length-prefixed, so no value can forge a separator.
func quote(b *strings.Builder, s string) {
	b.WriteString(strconv.Itoa(len(s)))
	b.WriteByte(':')
	b.WriteString(s)
}
