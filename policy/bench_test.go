package policy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/sluicehq/sluice/internal/config"
)

// benchInput is a typical HTTP call: an mTLS identity, a declared
// destination with labels, six headers.
func benchInput() *Input {
	return &Input{
		Source: Source{Identity: "spiffe://cluster.local/ns/shop/sa/checkout", IdentitySource: "mtls", IP: "10.1.2.3", Workload: "checkout"},
		Destination: Destination{Host: "api.shop.example", Port: 443, ServiceEntry: &ServiceEntryRef{
			Name: "shop-api", Namespace: "shop", Protocol: "HTTPS",
			Labels:      map[string]string{"data-class": "internal", "team": "shop"},
			Annotations: map[string]string{"owner": "shop@example.com"},
		}},
		Request: Request{Kind: "http", Method: "POST", Path: "/v1/orders", SNI: "api.shop.example", TLSOrigination: true,
			Headers: map[string][]string{
				"content-type":    {"application/json"},
				"accept":          {"application/json"},
				"user-agent":      {"shop/1.4"},
				"authorization":   {"Bearer x"},
				"x-request-id":    {"9f1c"},
				"accept-encoding": {"gzip"},
			}},
		Time: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC),
	}
}

func benchEngine(b *testing.B, mode string) *Engine {
	return benchEngineWith(b, Options{Config: config.Policy{Mode: mode}, Paths: []string{"testdata/bench"}})
}

// benchEngineWith builds an engine for a benchmark. The decision cache is
// off unless the benchmark is about the cache: the same input is decided
// over and over, and the evaluation is what is measured.
func benchEngineWith(b *testing.B, opts Options) *Engine {
	b.Helper()
	opts.Logger = discardLogger()
	if !strings.Contains(b.Name(), "Cached") {
		opts.DisableCache = true
	}
	opts.Config.Timeout = config.Duration(250 * time.Millisecond)
	e, err := New(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkDecide is one decision of the 20-rule policy for an allowed
// call, input conversion included: what the gateway pays per call.
func BenchmarkDecide(b *testing.B) {
	e := benchEngine(b, "enforce")
	in := benchInput()
	ctx := context.Background()
	if d := e.Decide(ctx, in); !d.Allow || d.Error != nil {
		b.Fatalf("decision = %+v", d)
	}
	b.ReportAllocs()
	for b.Loop() {
		e.Decide(ctx, in)
	}
}

// BenchmarkDecideCached is a decision whose input the policy saw before:
// the gateway's common case (the same caller, destination and method).
func BenchmarkDecideCached(b *testing.B) {
	e := benchEngine(b, "enforce")
	in := benchInput()
	ctx := context.Background()
	e.Decide(ctx, in)
	b.ReportAllocs()
	for b.Loop() {
		e.Decide(ctx, in)
	}
}

// BenchmarkDecideNoPartialEval is BenchmarkDecide with the policy
// evaluated as written (no partial evaluation).
func BenchmarkDecideNoPartialEval(b *testing.B) {
	e := benchEngineWith(b, Options{Paths: []string{"testdata/bench"}, DisablePartialEval: true})
	in := benchInput()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e.Decide(ctx, in)
	}
}

// BenchmarkDecideExamplePolicy is an allowed call under the example
// policy of deploy/examples/policy (4 reason rules, 5 helpers).
func BenchmarkDecideExamplePolicy(b *testing.B) {
	e := benchEngineWith(b, Options{Paths: []string{examplePolicy}})
	in := httpCall(checkout, paymentsAPI, "POST", "/v1/charges")
	ctx := context.Background()
	if d := e.Decide(ctx, in); !d.Allow {
		b.Fatalf("decision = %+v", d)
	}
	b.ReportAllocs()
	for b.Loop() {
		e.Decide(ctx, in)
	}
}

// BenchmarkDecideDenied is a denied call (a blocked path): the deny
// rules and both reasons are evaluated.
func BenchmarkDecideDenied(b *testing.B) {
	e := benchEngine(b, "enforce")
	in := benchInput()
	in.Request.Path = "/admin/users"
	ctx := context.Background()
	if d := e.Decide(ctx, in); d.Allow || len(d.Reasons) == 0 {
		b.Fatalf("decision = %+v", d)
	}
	b.ReportAllocs()
	for b.Loop() {
		e.Decide(ctx, in)
	}
}

// BenchmarkDecideParallel is BenchmarkDecide from every core.
func BenchmarkDecideParallel(b *testing.B) {
	e := benchEngine(b, "enforce")
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		in := benchInput()
		for pb.Next() {
			e.Decide(ctx, in)
		}
	})
}

// BenchmarkDecideFullInput builds the whole input document instead of
// the part the policy reads (to show what the input plan saves).
func BenchmarkDecideFullInput(b *testing.B) {
	e := benchEngine(b, "enforce")
	p := e.cur.Load()
	full := *p
	full.plan = fullPlan()
	if !full.partial {
		b.Fatal("partial evaluation not in use")
	}
	in := benchInput()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := full.eval(ctx, in, time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInputValue is the input conversion alone (full document).
func BenchmarkInputValue(b *testing.B) {
	in := benchInput()
	b.ReportAllocs()
	for b.Loop() {
		_ = in.Value()
	}
}

// BenchmarkRegoPreparedEval is the same decision through the rego package
// (PrepareForEval + EvalParsedInput with the complete hand-built input,
// allow and reasons in one query): the approach of the library study,
// for comparison.
func BenchmarkRegoPreparedEval(b *testing.B) {
	src, err := loadPaths([]string{"testdata/bench"}, false)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	opts := []func(*rego.Rego){
		rego.Query("allow := data.sluice.egress.allow; reasons := {r | some r in data.sluice.egress.reasons}"),
		rego.Store(inmem.NewFromObjectWithOpts(src.data, inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))),
	}
	for _, m := range src.modules {
		opts = append(opts, rego.ParsedModule(m))
	}
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		b.Fatal(err)
	}
	in := benchInput()
	b.ReportAllocs()
	for b.Loop() {
		rs, err := pq.Eval(ctx, rego.EvalParsedInput(in.Value()))
		if err != nil || len(rs) != 1 {
			b.Fatal(err, rs)
		}
	}
}
