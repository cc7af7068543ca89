package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The hand-built input must be exactly the JSON document of docs/contract.md
// section 5 (what `opa eval -i input.json` would see).
func TestInputValueIsTheDesignDocument(t *testing.T) {
	for name, in := range map[string]*Input{
		"full": benchInput(),
		"undeclared, tunnel, empty values": {
			Source:      Source{IdentitySource: "none", IP: "10.0.0.1"},
			Destination: Destination{Host: "203.0.113.7", Port: 8443},
			Request:     Request{Kind: "connect"},
			Time:        time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600)),
		},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			// encoding/json keeps the zone; the engine sends UTC.
			doc["time"] = in.Time.UTC().Format(time.RFC3339)
			// Absent maps are empty objects and absent headers an empty
			// object, never null.
			req := doc["request"].(map[string]any)
			if req["headers"] == nil {
				req["headers"] = map[string]any{}
			}
			if se, ok := doc["destination"].(map[string]any)["service_entry"].(map[string]any); ok {
				for _, k := range []string{"labels", "annotations"} {
					if se[k] == nil {
						se[k] = map[string]any{}
					}
				}
			}
			want := ast.MustInterfaceToValue(doc)
			got := in.Value()
			if got.Compare(want) != 0 {
				t.Errorf("input document\n got: %v\nwant: %v", got, want)
			}
		})
	}
}

func TestInputPlan(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		reads  []string // paths that must be present
		skips  []string // paths that must be absent
	}{
		{"fields", `allow if { input.source.identity == "x"; input.request.headers["accept"][0] == "1" }`,
			[]string{"source.identity", "request.headers.accept"},
			[]string{"source.ip", "destination", "request.method", "request.headers.content-type", "time"}},
		{"variable key keeps the subtree", `allow if { some k; input.destination.service_entry.labels[k] == "pci" }`,
			[]string{"destination.service_entry.labels.team", "destination.service_entry.labels.data-class"},
			[]string{"destination.service_entry.name", "destination.host"}},
		{"whole object", `allow if count(input.request) > 0`,
			[]string{"request.method", "request.headers.accept", "request.tls_origination"},
			[]string{"source"}},
		{"bare input", `allow if walk(input, _)`,
			[]string{"source.ip", "time", "request.headers.accept"}, nil},
		{"import alias", "import input.request as req\nallow if req.method == \"GET\"",
			[]string{"request.method"}, []string{"source"}},
		{"ref inside a ref", `allow if data.x[input.source.workload]`,
			[]string{"source.workload"}, []string{"source.identity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mod := ast.MustParseModuleWithOpts("package sluice.egress\n"+tt.policy, ast.ParserOptions{RegoVersion: ast.RegoV1})
			c := ast.NewCompiler()
			c.Compile(map[string]*ast.Module{"p.rego": mod})
			if c.Failed() {
				t.Fatal(c.Errors)
			}
			doc := benchInput().value(planInput(c.Modules))
			for _, p := range tt.reads {
				if !hasPath(doc, p) {
					t.Errorf("%s missing from %v", p, doc)
				}
			}
			for _, p := range tt.skips {
				if hasPath(doc, p) {
					t.Errorf("%s should not be built: %v", p, doc)
				}
			}
		})
	}
}

func hasPath(v ast.Value, path string) bool {
	ref := ast.Ref{ast.DefaultRootDocument}
	for _, k := range splitDots(path) {
		ref = append(ref, ast.StringTerm(k))
	}
	_, err := v.Find(ref[1:])
	return err == nil
}

func splitDots(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// The optimisations (partial evaluation, building only what the policy
// reads) must not change a single decision. Compare them with the plain
// evaluation of the complete input over many inputs.
func TestOptimisationsDoNotChangeDecisions(t *testing.T) {
	inputs := variedInputs()
	for _, dir := range []string{examplePolicy, "testdata/bench"} {
		src, err := loadPaths([]string{dir}, false)
		if err != nil {
			t.Fatal(err)
		}
		fast, err := compile(context.Background(), src, compileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !fast.partial {
			t.Fatalf("%s: partial evaluation not used: %v", dir, fast.partialErr)
		}
		plain, err := compile(context.Background(), src, compileOptions{noPartial: true})
		if err != nil {
			t.Fatal(err)
		}
		plain.plan = fullPlan()
		allowed := 0
		for i, in := range inputs {
			a1, r1, e1 := fast.eval(context.Background(), in, time.Second)
			a2, r2, e2 := plain.eval(context.Background(), in, time.Second)
			if a1 != a2 || !slices.Equal(r1, r2) || (e1 == nil) != (e2 == nil) {
				t.Fatalf("%s input %d %+v:\noptimised: %v %q %v\nplain:     %v %q %v", dir, i, in, a1, r1, e1, a2, r2, e2)
			}
			if a1 {
				allowed++
			}
		}
		if allowed == 0 || allowed == len(inputs) {
			t.Errorf("%s: %d of %d allowed; the inputs do not exercise the policy", dir, allowed, len(inputs))
		}
	}
}

// variedInputs crosses callers, destinations and requests.
func variedInputs() []*Input {
	sources := []Source{checkout, reporting, batch, anonymous,
		{Identity: "spiffe://cluster.local/ns/platform/sa/ops", IdentitySource: "xfcc"},
		{Identity: "spiffe://evil.example/ns/payments/sa/checkout", IdentitySource: "mtls"},
		{Identity: "spiffe://cluster.local/ns/shared/sa/x", IdentitySource: "proxy_auth"},
	}
	bi := benchInput()
	dests := []Destination{paymentsAPI, crmSaaS, inventory, undeclared, bi.Destination,
		{Host: "x.evil.example", Port: 443, ServiceEntry: &ServiceEntryRef{Name: "evil", Namespace: "shared", Protocol: "HTTP", Labels: map[string]string{"data-class": "public"}}},
		{Host: "pastebin.example", Port: 22, ServiceEntry: &ServiceEntryRef{Name: "pb", Namespace: "shared", Protocol: "TCP"}},
	}
	var reqs []Request
	for _, m := range []string{"GET", "HEAD", "POST", "DELETE", "get"} {
		for _, p := range []string{"/", "/v1/charges", "/admin", "/admin/x", "/administrators", "/Internal/y", "/a/../b", "/upload/f", "/x?<script>"} {
			reqs = append(reqs, Request{Kind: "http", Method: m, Path: p, TLSOrigination: true,
				Headers: map[string][]string{"content-type": {"application/json"}}})
		}
	}
	reqs = append(reqs,
		Request{Kind: "connect"},
		Request{Kind: "tls", SNI: "other.example"},
		Request{Kind: "http", Method: "GET", Path: "/", Headers: map[string][]string{"x-debug-override": {"1"}}},
		Request{Kind: "http", Method: "GET", Path: "/", Headers: map[string][]string{"authorization": {"a", "b"}}},
		Request{Kind: "http", Method: "POST", Path: "/", Headers: map[string][]string{"content-type": {"text/html"}}},
	)
	var out []*Input
	for _, s := range sources {
		for _, d := range dests {
			for _, r := range reqs {
				out = append(out, &Input{Source: s, Destination: d, Request: r, Time: bi.Time})
			}
		}
	}
	return out
}

func ExampleInput_Value() {
	in := &Input{
		Source:      Source{Identity: "spiffe://cluster.local/ns/shop/sa/checkout", IdentitySource: "mtls", IP: "10.1.2.3", Workload: "checkout"},
		Destination: Destination{Host: "api.stripe.com", Port: 443},
		Request:     Request{Kind: "connect", SNI: "api.stripe.com"},
		Time:        time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC),
	}
	fmt.Println(in.Value())
	// Output:
	// {"destination": {"host": "api.stripe.com", "port": 443, "service_entry": null}, "request": {"headers": {}, "kind": "connect", "method": "", "path": "", "sni": "api.stripe.com", "tls_origination": false}, "source": {"identity": "spiffe://cluster.local/ns/shop/sa/checkout", "identity_source": "mtls", "ip": "10.1.2.3", "workload": "checkout"}, "time": "2026-11-21T12:00:00Z"}
}
