package policy

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"go.opentelemetry.io/otel/attribute"
)

// Destinations of the example registry (deploy/examples/registry).
var (
	paymentsAPI = Destination{Host: "api.payments.example", Port: 80, ServiceEntry: &ServiceEntryRef{
		Name: "payments-api", Namespace: "payments", Protocol: "HTTP", Labels: map[string]string{"data-class": "pci"}}}
	crmSaaS = Destination{Host: "acme.crm-saas.example", Port: 443, ServiceEntry: &ServiceEntryRef{
		Name: "saas-crm", Namespace: "sales", Protocol: "HTTPS"}}
	inventory = Destination{Host: "inventory.corp.example", Port: 80, ServiceEntry: &ServiceEntryRef{
		Name: "inventory", Namespace: "ops", Protocol: "HTTP"}}
	undeclared = Destination{Host: "example.org", Port: 443}
)

var (
	checkout  = Source{Identity: "spiffe://cluster.local/ns/payments/sa/checkout", IdentitySource: "mtls", IP: "10.1.2.3", Workload: "checkout"}
	reporting = Source{Identity: "spiffe://cluster.local/ns/analytics/sa/reporting", IdentitySource: "mtls", IP: "10.1.9.9"}
	batch     = Source{IdentitySource: "cidr", IP: "10.2.0.7", Workload: "batch"}
	anonymous = Source{IdentitySource: "none", IP: "10.9.9.9"}
)

func httpCall(src Source, dst Destination, method, path string) *Input {
	return &Input{Source: src, Destination: dst,
		Request: Request{Kind: "http", Method: method, Path: path, TLSOrigination: true,
			Headers: map[string][]string{"content-type": {"application/json"}}},
		Time: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
}

func tunnel(src Source, dst Destination) *Input {
	return &Input{Source: src, Destination: dst, Request: Request{Kind: "connect", SNI: dst.Host},
		Time: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
}

func TestDecideExamplePolicy(t *testing.T) {
	tests := []struct {
		name    string
		in      *Input
		allow   bool
		reasons []string
	}{
		{"payments namespace calls the payment API", httpCall(checkout, paymentsAPI, "POST", "/v1/charges"), true, nil},
		{"other namespace may not", httpCall(reporting, paymentsAPI, "GET", "/v1/charges"), false,
			[]string{"payments-api is reserved to workloads of the payments namespace"}},
		{"a workload without identity may not", httpCall(batch, paymentsAPI, "GET", "/v1/charges"), false,
			[]string{"payments-api is reserved to workloads of the payments namespace"}},
		{"an anonymous tunnel may not", tunnel(anonymous, paymentsAPI), false,
			[]string{"payments-api is reserved to workloads of the payments namespace"}},
		{"CRM GET", httpCall(reporting, crmSaaS, "GET", "/api/accounts"), true, nil},
		{"CRM POST", httpCall(reporting, crmSaaS, "POST", "/api/accounts"), false,
			[]string{"acme.crm-saas.example is read-only: method POST is not allowed"}},
		{"CRM tunnel", tunnel(reporting, crmSaaS), false,
			[]string{"acme.crm-saas.example is read-only and a connect tunnel hides the method: send plain HTTP and let Sluice originate TLS"}},
		{"blocked path, reasons sorted", httpCall(reporting, paymentsAPI, "GET", "/admin/x"), false,
			[]string{"path /admin/x is blocked (/admin)", "payments-api is reserved to workloads of the payments namespace"}},
		{"other destinations allowed", httpCall(anonymous, inventory, "DELETE", "/v1/stock/7"), true, nil},
		{"undeclared destination (registry report mode)", httpCall(anonymous, undeclared, "GET", "/"), true, nil},
	}
	for _, partial := range []bool{true, false} {
		e := newEngine(t, Options{Paths: []string{examplePolicy}, DisablePartialEval: !partial})
		if got := e.cur.Load().partial; got != partial {
			t.Fatalf("partial evaluation in use = %v, want %v", got, partial)
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				d := e.Decide(context.Background(), tt.in)
				if d.Error != nil {
					t.Fatalf("error: %v", d.Error)
				}
				if d.Allow != tt.allow || !d.Enforced || !slices.Equal(d.Reasons, tt.reasons) {
					t.Errorf("partial=%v: got allow=%v enforced=%v reasons=%q; want allow=%v reasons=%q",
						partial, d.Allow, d.Enforced, d.Reasons, tt.allow, tt.reasons)
				}
			})
		}
	}
}

func TestReportMode(t *testing.T) {
	e := newEngine(t, Options{Paths: []string{examplePolicy}, Config: config.Policy{Mode: "report"}})
	d := e.Decide(context.Background(), httpCall(reporting, crmSaaS, "POST", "/api"))
	if !d.Allow || d.Enforced || d.Error != nil {
		t.Errorf("report mode denial = %+v, want Allow and not Enforced", d)
	}
	if want := []string{"acme.crm-saas.example is read-only: method POST is not allowed"}; !slices.Equal(d.Reasons, want) {
		t.Errorf("reasons = %q, want %q", d.Reasons, want)
	}
	if d := e.Decide(context.Background(), httpCall(reporting, crmSaaS, "GET", "/api")); !d.Allow || !d.Enforced {
		t.Errorf("report mode allow = %+v, want Allow and Enforced", d)
	}
	if got := e.Status().Mode; got != "report" {
		t.Errorf("Status().Mode = %q", got)
	}

	// A policy error is a denial in report mode too.
	dir := policyDir(t, map[string]string{"p.rego": "package sluice.egress\nallow if input.request.method == \"GET\"\n"})
	e = newEngine(t, Options{Paths: []string{dir}, Config: config.Policy{Mode: "report"}})
	d = e.Decide(context.Background(), httpCall(reporting, crmSaaS, "POST", "/api"))
	if d.Allow || !d.Enforced || !errors.Is(d.Error, ErrUndefined) {
		t.Errorf("report mode policy error = %+v, want an enforced denial", d)
	}
}

func TestNoPolicyAllowsEverything(t *testing.T) {
	for name, paths := range map[string][]string{
		"no paths":         nil,
		"empty directory":  {t.TempDir()},
		"data but no rego": {policyDir(t, map[string]string{"data.yaml": "a: 1\n"})},
		"only unit tests":  {policyDir(t, map[string]string{"x_test.rego": "package x_test\ntest_a if true\n"})},
		"non-policy files": {policyDir(t, map[string]string{"README.md": "# hi\n"})},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEngine(t, Options{Paths: paths})
			d := e.Decide(context.Background(), httpCall(anonymous, paymentsAPI, "POST", "/admin"))
			if !d.Allow || !d.Enforced || d.Error != nil || d.Reasons != nil {
				t.Errorf("decision = %+v, want allow", d)
			}
			if s := e.Status(); s.State != StateAllowAll || s.Generation != 1 {
				t.Errorf("status = %+v", s)
			}
		})
	}
}

func TestPolicyErrorsDeny(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		in     *Input
		is     error  // errors.Is target, or nil
		substr string // in the reason
	}{
		{"undefined allow", "package sluice.egress\nallow if input.request.method == \"GET\"\n",
			httpCall(anonymous, inventory, "POST", "/"), ErrUndefined, "policy_error: data.sluice.egress.allow is undefined"},
		{"allow is not a boolean", "package sluice.egress\nallow := \"yes\"\n",
			httpCall(anonymous, inventory, "GET", "/"), nil, "policy_error: data.sluice.egress.allow is string, not a boolean"},
		{"conflicting values", "package sluice.egress\nallow := true if input.request.method == \"GET\"\nallow := false if input.request.path == \"/x\"\n",
			httpCall(anonymous, inventory, "GET", "/x"), nil, "policy_error: "},
		{"reasons conflict", "package sluice.egress\ndefault allow := false\nreasons := {\"a\"} if input.request.method == \"GET\"\nreasons := {\"b\"} if input.request.path == \"/x\"\n",
			httpCall(anonymous, inventory, "GET", "/x"), nil, "policy_error: "},
		{"builtin error in a function", "package sluice.egress\nallow if f(input.request.path)\nf(x) := y if y := 1 / (count(x) - 2)\n",
			httpCall(anonymous, inventory, "GET", "/x"), nil, ""},
	}
	for _, tt := range tests {
		for _, partial := range []bool{true, false} {
			t.Run(tt.name, func(t *testing.T) {
				m := newMetricsReader()
				dir := policyDir(t, map[string]string{"p.rego": tt.policy})
				e := newEngine(t, Options{Paths: []string{dir}, MeterProvider: m.mp, DisablePartialEval: !partial})
				d := e.Decide(context.Background(), tt.in)
				if tt.substr == "" { // builtin errors are undefined (OPA's non-strict default)
					if d.Allow {
						t.Errorf("decision = %+v, want a denial", d)
					}
					return
				}
				if d.Allow || !d.Enforced || d.Error == nil || len(d.Reasons) != 1 || !strings.HasPrefix(d.Reasons[0], tt.substr) {
					t.Fatalf("decision = %+v, want a policy_error denial starting %q", d, tt.substr)
				}
				if tt.is != nil && !errors.Is(d.Error, tt.is) {
					t.Errorf("error = %v, want %v", d.Error, tt.is)
				}
				if n := m.counter(t, "sluice_policy_errors_total"); n != 1 {
					t.Errorf("sluice_policy_errors_total = %d, want 1", n)
				}
			})
		}
	}
}

// slowPolicy loops over a billion combinations that depend on the input,
// so neither partial evaluation nor rule indexing can shortcut it.
const slowPolicy = `package sluice.egress
default allow := false
allow if {
	r := numbers.range(1, 1000)
	some i in r
	some j in r
	some k in r
	i + j + k == count(input.request.path) - 5000
}
`

func TestTimeoutDenies(t *testing.T) {
	dir := policyDir(t, map[string]string{"p.rego": slowPolicy})
	e := newEngine(t, Options{Paths: []string{dir}, Config: config.Policy{Timeout: config.Duration(20 * time.Millisecond)}})
	d := e.Decide(context.Background(), httpCall(anonymous, inventory, "GET", "/"))
	if d.Allow || !errors.Is(d.Error, ErrTimeout) || !strings.HasPrefix(d.Reasons[0], "policy_error: policy evaluation timed out after 20ms") {
		t.Errorf("decision = %+v, want a timeout denial", d)
	}

	// The caller's deadline, if sooner, bounds the evaluation too.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	e.timeout = time.Hour
	d = e.Decide(ctx, httpCall(anonymous, inventory, "GET", "/"))
	if d.Allow || d.Error == nil {
		t.Errorf("decision = %+v, want a denial", d)
	}

	// A cancelled context is a denial without evaluation.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	d = e.Decide(ctx, httpCall(anonymous, inventory, "GET", "/"))
	if d.Allow || !errors.Is(d.Error, context.Canceled) {
		t.Errorf("decision = %+v, want a cancelled denial", d)
	}
}

func TestNewRejectsBrokenPolicy(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // substring of the error
	}{
		{"parse error", map[string]string{"egress.rego": "package sluice.egress\n\nallow if {\n\tinput.x ==\n}\n"},
			"egress.rego:5:1: rego_parse_error: unexpected } token"},
		{"unknown function", map[string]string{"egress.rego": "package sluice.egress\n\nallow if nope(input.x)\n"},
			"egress.rego:3:10: rego_type_error: undefined function nope"},
		{"unsafe variable", map[string]string{"egress.rego": "package sluice.egress\n\nallow if x == 1\n"},
			"egress.rego:3:10: rego_unsafe_var_error: var x is unsafe"},
		{"rego v0 syntax", map[string]string{"egress.rego": "package sluice.egress\n\nallow { true }\n"},
			"egress.rego:3:1: rego_parse_error"},
		{"reasons is not a collection", map[string]string{"egress.rego": "package sluice.egress\nallow := true\nreasons := \"no\"\n"},
			"data.sluice.egress.reasons must be a set of strings"},
		{"no allow rule", map[string]string{"egress.rego": "package sluice.other\n\nallow := true\n"},
			"no rule defines data.sluice.egress.allow"},
		{"bad data file", map[string]string{"egress.rego": "package sluice.egress\nallow := true\n", "data.yaml": "a: [\n"},
			"data.yaml"},
		{"data conflicts with a rule", map[string]string{"egress.rego": "package sluice.egress\nallow := true\n",
			"data.json": `{"sluice": {"egress": {"allow": false}}}`}, "conflict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := policyDir(t, tt.files)
			_, err := New(context.Background(), Options{Paths: []string{dir}, Logger: discardLogger()})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want it to contain %q", err, tt.want)
			}
			if cerr := Compile(context.Background(), []string{dir}); cerr == nil || cerr.Error() != err.Error() {
				t.Errorf("Compile error = %v, want the same as New", cerr)
			}
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Errorf("error is %T, want Errors", err)
			}
		})
	}
	_, err := New(context.Background(), Options{Paths: []string{"/nonexistent/policy"}, Logger: discardLogger()})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/policy: cannot read policy path") {
		t.Errorf("missing path: %v", err)
	}
}

func TestCompileExample(t *testing.T) {
	if err := Compile(context.Background(), []string{examplePolicy}); err != nil {
		t.Fatal(err)
	}
}

const (
	policyGetOnly = "package sluice.egress\ndefault allow := false\nallow if input.request.method == \"GET\"\nreasons contains \"get only\" if not allow\n"
	policyPostToo = "package sluice.egress\ndefault allow := false\nallow if input.request.method in {\"GET\", \"POST\"}\n"
)

func TestReloadKeepsLastGood(t *testing.T) {
	m := newMetricsReader()
	dir := policyDir(t, map[string]string{"egress.rego": policyGetOnly})
	e := newEngine(t, Options{Paths: []string{dir}, MeterProvider: m.mp})
	post := httpCall(anonymous, inventory, "POST", "/")
	if d := e.Decide(context.Background(), post); d.Allow || !slices.Equal(d.Reasons, []string{"get only"}) {
		t.Fatalf("first policy: %+v", d)
	}

	writeFiles(t, dir, map[string]string{"egress.rego": "package sluice.egress\nallow if {\n"})
	err := e.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "egress.rego:") {
		t.Fatalf("Reload of a broken file = %v, want a located error", err)
	}
	if d := e.Decide(context.Background(), post); d.Allow || d.Error != nil {
		t.Errorf("after a failed reload: %+v, want the last good policy's denial", d)
	}
	s := e.Status()
	if s.Generation != 1 || s.LastReload.Result != "failure" || s.LastReload.Trigger != "reload" || !strings.Contains(s.LastReload.Error, "egress.rego") {
		t.Errorf("status after failure = %+v", s)
	}

	writeFiles(t, dir, map[string]string{"egress.rego": policyPostToo})
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := e.Decide(context.Background(), post); !d.Allow {
		t.Errorf("after a good reload: %+v, want allow", d)
	}
	s = e.Status()
	if s.Generation != 2 || s.LastReload.Result != "success" || s.State != StateActive || !slices.Equal(s.Files, []string{filepath.Join(dir, "egress.rego")}) {
		t.Errorf("status after success = %+v", s)
	}
	ok := m.counter(t, "sluice_config_reloads_total", attribute.String("kind", "policy"), attribute.String("result", "success"))
	bad := m.counter(t, "sluice_config_reloads_total", attribute.String("kind", "policy"), attribute.String("result", "failure"))
	if ok != 2 || bad != 1 {
		t.Errorf("sluice_config_reloads_total success=%d failure=%d, want 2 and 1", ok, bad)
	}
	// The decision after the failed reload repeats an input the same policy
	// already decided: a cache hit, not an evaluation.
	if n := m.histogramCount(t, "sluice_policy_eval_duration_seconds"); n != 2 {
		t.Errorf("sluice_policy_eval_duration_seconds count = %d, want 2", n)
	}
	if n := m.counter(t, "sluice_policy_cache_hits_total"); n != 1 {
		t.Errorf("sluice_policy_cache_hits_total = %d, want 1", n)
	}
}

func TestRunReloadsOnChange(t *testing.T) {
	dir := policyDir(t, map[string]string{"egress.rego": policyGetOnly})
	e := newEngine(t, Options{Paths: []string{dir}, Debounce: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	post := httpCall(anonymous, inventory, "POST", "/")

	// The watcher starts asynchronously: rewrite until a reload is seen.
	eventually(t, "the watcher to reload the new policy", func() bool {
		writeFiles(t, dir, map[string]string{"egress.rego": policyPostToo})
		return e.Status().Generation >= 2
	})
	if d := e.Decide(ctx, post); !d.Allow {
		t.Errorf("after the change: %+v", d)
	}
	if s := e.Status(); s.LastReload.Trigger != "watch" {
		t.Errorf("trigger = %q, want watch", s.LastReload.Trigger)
	}

	writeFiles(t, dir, map[string]string{"egress.rego": "package sluice.egress\nallow if {\n"})
	eventually(t, "the failed reload", func() bool { return e.Status().LastReload.Result == "failure" })
	if d := e.Decide(ctx, post); !d.Allow {
		t.Errorf("after a broken change: %+v, want the last good policy", d)
	}
}

func TestStatusIsJSON(t *testing.T) {
	e := newEngine(t, Options{Paths: []string{examplePolicy}})
	b, err := json.Marshal(e.Status())
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["state"] != "active" || got["mode"] != "enforce" || got["generation"] != float64(1) || got["modules"] != float64(1) {
		t.Errorf("status JSON = %s", b)
	}
	files, _ := got["files"].([]any)
	if len(files) != 2 { // egress.rego and data.yaml; the test file is not served
		t.Errorf("files = %v", files)
	}
}

func TestTestFilesAreNotServed(t *testing.T) {
	// A broken unit test file does not stop the gateway (opa test reports it).
	dir := policyDir(t, map[string]string{
		"egress.rego":      policyGetOnly,
		"egress_test.rego": "package sluice.egress_test\ntest_x if {\n",
	})
	newEngine(t, Options{Paths: []string{dir}})
}

func TestHiddenEntriesIgnored(t *testing.T) {
	// A Kubernetes ConfigMap volume: every file twice, under ..data and a
	// timestamped directory, and symlinks at the top.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"..2026_11_21/egress.rego": policyGetOnly})
	if err := os.Symlink("..2026_11_21", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/egress.rego", filepath.Join(dir, "egress.rego")); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, Options{Paths: []string{dir}})
	if s := e.Status(); s.Modules != 1 {
		t.Errorf("modules = %d, want 1", s.Modules)
	}
}

// Decisions run while reloads swap policies (run with -race).
func TestDecideDuringReloads(t *testing.T) {
	dir := policyDir(t, map[string]string{"egress.rego": policyGetOnly})
	e := newEngine(t, Options{Paths: []string{dir}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := httpCall(anonymous, inventory, "POST", "/")
			for ctx.Err() == nil {
				if d := e.Decide(ctx, in); d.Error != nil && ctx.Err() == nil {
					t.Errorf("decision during reload: %+v", d)
					return
				}
			}
		}()
	}
	for i := range 20 {
		src := policyGetOnly
		if i%2 == 0 {
			src = policyPostToo
		}
		writeFiles(t, dir, map[string]string{"egress.rego": src})
		if err := e.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		_ = e.Status()
	}
	cancel()
	wg.Wait()
}
