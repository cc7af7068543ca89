package e2e

// Telemetry proven against the parts operators run beside Sluice: a real
// Prometheus (Debian's prometheus 2.42) scraping /metrics and evaluating
// the alerting rules of deploy/prometheus, a real OpenTelemetry Collector
// (tools/otelcol, built by scripts/realparts.sh) receiving the spans over
// OTLP/gRPC and OTLP/HTTP, and promtool checking and unit-testing the
// rules. A part that cannot be found or built skips the test locally and
// fails it under CI=true.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// missingPart skips the test, or fails it under CI=true, because a real
// component is not available: the suite never passes without it silently.
func missingPart(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: a missing real component is a failure)", msg)
	}
	t.Skipf("SKIP: %s", msg)
}

// lookTool finds a binary on PATH (prometheus, promtool).
func lookTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missingPart(t, "%s is not installed: run scripts/realparts.sh prometheus (Debian package prometheus)", name)
	}
	return p
}

// otelcolBin returns the Collector binary: $SLUICE_OTELCOL_BIN, or the one
// scripts/realparts.sh builds into its cache (building it on first use,
// ~90 s cold on 2 cores).
func otelcolBin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SLUICE_OTELCOL_BIN"); p != "" {
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			missingPart(t, "SLUICE_OTELCOL_BIN=%s is not an executable file", p)
		}
		return p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot(t), "scripts", "realparts.sh"), "otelcol")
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	start := time.Now()
	if err := cmd.Run(); err != nil {
		missingPart(t, "the OpenTelemetry Collector could not be built (scripts/realparts.sh otelcol: %v):\n%s", err, se.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Logf("built the Collector in %s", d.Round(time.Second))
	}
	p := strings.TrimSpace(so.String())
	if i := strings.LastIndexByte(p, '\n'); i >= 0 {
		p = p[i+1:]
	}
	if _, err := os.Stat(p); err != nil {
		missingPart(t, "scripts/realparts.sh otelcol printed %q: %v", p, err)
	}
	return p
}

// proc is a helper process (prometheus, otelcol) stopped with SIGTERM
// when the test ends; its output is logged if the test failed.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

func startProc(t testing.TB, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), noProxyEnv...)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		terminate(p.cmd, p.exited)
		if t.Failed() {
			out := p.out.String()
			if len(out) > 20000 {
				out = "…" + out[len(out)-20000:]
			}
			t.Logf("%s log:\n%s", name, out)
		}
	})
	return p
}

// waitUp polls ready until it is true, failing if the process exits or
// d passes.
func (p *proc) waitUp(t testing.TB, d time.Duration, ready func() bool) {
	t.Helper()
	if !waitUntil(p.exited, d, ready) {
		failStart(t, p.name, p.exited, d, p.out.String())
	}
}

// noProxy is an HTTP client that never goes through a proxy.
var noProxy = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}

// ---------------------------------------------------------------------------
// Prometheus

// prom is a running Prometheus with its own TSDB directory.
type prom struct {
	*proc
	URL string
}

// startPrometheus runs Prometheus scraping target (host:port, /metrics)
// every second as job "sluice", evaluating ruleFiles every second.
func startPrometheus(t testing.TB, target string, ruleFiles ...string) *prom {
	t.Helper()
	bin := lookTool(t, "prometheus")
	dir := t.TempDir()
	rules := ""
	for _, f := range ruleFiles {
		rules += fmt.Sprintf("  - %q\n", f)
	}
	if rules != "" {
		rules = "rule_files:\n" + rules
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	WriteFile(t, cfg, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
%sscrape_configs:
  - job_name: sluice
    static_configs:
      - targets: [%q]
`, rules, target))
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	p := &prom{URL: "http://" + addr}
	p.proc = startProc(t, "prometheus", bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	p.waitUp(t, 30*time.Second, func() bool {
		resp, err := noProxy.Get(p.URL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// promSample is one element of an instant vector.
type promSample struct {
	Metric map[string]string
	Value  float64
}

// api GETs path from the HTTP API and decodes the JSON answer into v.
func (p *prom) api(path string, v any) error {
	resp, err := noProxy.Get(p.URL + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
	}
	return nil
}

// query runs an instant query through the HTTP API.
func (p *prom) query(q string) ([]promSample, error) {
	var r struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string            `json:"resultType"`
			Result     []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := p.api("/api/v1/query?"+url.Values{"query": {q}}.Encode(), &r); err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %s: %s: %s", q, r.ErrorType, r.Error)
	}
	var out []promSample
	for _, raw := range r.Data.Result {
		var s struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if r.Data.ResultType != "vector" {
			continue // scalars and strings: the caller only needs success
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("query %s: %w", q, err)
		}
		str, _ := s.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %v: %w", q, s.Value[1], err)
		}
		out = append(out, promSample{Metric: s.Metric, Value: v})
	}
	return out, nil
}

// value is the single sample of q, or NaN when the result is empty.
func (p *prom) value(q string) (float64, error) {
	res, err := p.query(q)
	switch {
	case err != nil:
		return math.NaN(), err
	case len(res) == 0:
		return math.NaN(), nil
	case len(res) > 1:
		return math.NaN(), fmt.Errorf("query %s: %d series, want one: %v", q, len(res), res)
	}
	return res[0].Value, nil
}

// waitValue polls q until want(value) holds (the first scrape comes 5–6 s
// after Prometheus starts), failing with the last value seen after d.
func (p *prom) waitValue(t testing.TB, d time.Duration, q string, want func(float64) bool, what string) float64 {
	t.Helper()
	deadline := time.Now().Add(d)
	var last float64
	var lastErr error
	for {
		last, lastErr = p.value(q)
		if lastErr == nil && want(last) {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus: %s = %v (err %v) after %s, want %s", q, last, lastErr, d, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func equals(n float64) func(float64) bool { return func(v float64) bool { return v == n } }
func atLeast(n float64) func(float64) bool {
	return func(v float64) bool { return !math.IsNaN(v) && v >= n }
}

// telemetryPolicy allows every declared call except /forbidden
// (policy_denied) and makes /conflict an evaluation error (two values for
// one complete rule: policy_error).
const telemetryPolicy = `package sluice.egress

default allow := false

allow if not forbidden

allow := false if input.request.path == "/conflict"

forbidden if input.request.path == "/forbidden"

reasons contains "the path /forbidden is not allowed" if forbidden
`

// Prometheus scrapes Sluice's /metrics; allowed, policy-denied,
// policy-error and undeclared calls come back through the query API with
// the right labels and values, with the other metric families of docs/contract.md
// section 9, the alerting rules loaded and healthy, and every expression
// of the Grafana dashboard valid against the real data.
func TestTelemetryPrometheus(t *testing.T) {
	lookTool(t, "prometheus")
	up := startUpstream(t)
	g := StartGateway(t, Options{
		Config: "policy: {paths: [policy]}\n",
		Files: map[string]string{
			"registry/api.yaml":  staticSE("api", "api.test.example", 80, "HTTP", up.Port),
			"policy/egress.rego": telemetryPolicy,
		}})
	rules := filepath.Join(repoRoot(t), "deploy", "prometheus", "sluice-alerts.yaml")
	p := startPrometheus(t, g.Admin, rules)

	// Calls. The first carries a caller traceparent: with telemetry off it
	// still reaches the upstream unchanged and lands in the audit record.
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	status, body, serr, _ := curl(t, "-x", "http://"+g.Proxy, "http://api.test.example/ok", "-H", "traceparent: "+tp)
	if status != 200 {
		t.Fatalf("allowed call: %d %s %s", status, body, serr)
	}
	var e echoed
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("echo: %v\n%s", err, body)
	}
	if got := strings.Join(e.Header["Traceparent"], ","); got != tp {
		t.Errorf("telemetry off: upstream traceparent %q, want the caller's %q", got, tp)
	}
	rid := strings.Join(e.Header["Sluice-Request-Id"], "")
	waitRecord(t, g, url.Values{"host": {"api.test.example"}}, "the traced call", func(r record) bool { return r.str("id") == rid })
	if r := records(t, g, url.Values{"host": {"api.test.example"}}); len(r) == 0 || !slices.ContainsFunc(r, func(r record) bool {
		return r.str("id") == rid && r.str("trace_id") == "0af7651916cd43dd8448eb211c80319c"
	}) {
		t.Errorf("telemetry off: audit record of %s has no trace_id of the caller: %v", rid, r)
	}
	for i := 0; i < 2; i++ {
		if status, body, _, _ := curl(t, "-x", "http://"+g.Proxy, "http://api.test.example/ok"); status != 200 {
			t.Fatalf("allowed call: %d %s", status, body)
		}
	}
	for i := 0; i < 2; i++ {
		if status, body, _, _ := curl(t, "-x", "http://"+g.Proxy, "http://api.test.example/forbidden"); status != 403 || !strings.Contains(body, "policy_denied") {
			t.Fatalf("policy-denied call: %d %s", status, body)
		}
	}
	if status, body, _, _ := curl(t, "-x", "http://"+g.Proxy, "http://api.test.example/conflict"); status != 403 || !strings.Contains(body, "policy_error") {
		t.Fatalf("policy-error call: %d %s", status, body)
	}
	for i := 0; i < 4; i++ {
		if status, body, _, _ := curl(t, "-x", "http://"+g.Proxy, "http://undeclared.test.example/"); status != 403 {
			t.Fatalf("undeclared call: %d %s", status, body)
		}
	}
	// DNS: one declared name, one undeclared.
	if r := dig(t, g.DNS, "api.test.example", "A"); r.status != "NOERROR" {
		t.Fatalf("dig declared: %s", r.out)
	}
	if r := dig(t, g.DNS, "undeclared.test.example", "A"); r.status != "NXDOMAIN" {
		t.Fatalf("dig undeclared: %s", r.out)
	}

	// The counters, read back through Prometheus. Allowed calls have no
	// reason: Prometheus stores the empty label as absent, so reason="".
	sel := `job="sluice",instance="` + g.Admin + `",listener="proxy"`
	for _, c := range []struct {
		decision, reason string
		n                float64
	}{
		{"allow", "", 3},
		{"deny", "policy_denied", 2},
		{"deny", "policy_error", 1},
		{"deny", "undeclared_destination", 4},
	} {
		q := fmt.Sprintf(`sluice_requests_total{%s,decision=%q,reason=%q}`, sel, c.decision, c.reason)
		p.waitValue(t, 20*time.Second, q, equals(c.n), fmt.Sprint(c.n))
	}
	if v, err := p.value(`sum(sluice_requests_total{` + sel + `})`); err != nil || v != 10 {
		t.Errorf("sum of sluice_requests_total = %v (%v), want 10 (no other label sets)", v, err)
	}
	for _, c := range []struct {
		q    string
		want func(float64) bool
		what string
	}{
		{`sluice_config_reloads_total{kind="registry",result="success"}`, atLeast(1), ">= 1"},
		{`sluice_config_reloads_total{kind="policy",result="success"}`, atLeast(1), ">= 1"},
		{`sum(sluice_request_duration_seconds_count{listener="proxy"})`, equals(10), "10 (one observation per call)"},
		{`count(sluice_request_duration_seconds_bucket{listener="proxy",decision="allow"})`, atLeast(10), ">= 10 buckets"},
		{`sluice_request_duration_seconds_bucket{listener="proxy",decision="allow",le="+Inf"}`, equals(3), "3"},
		{`sluice_upstream_bytes_total{direction="received"}`, atLeast(1), "> 0"},
		{`sluice_active_connections`, atLeast(0), "present"},
		{`sum(sluice_policy_eval_duration_seconds_count)`, atLeast(3), ">= 3 (each distinct declared call evaluated; the policy caches decisions)"},
		{`sum(sluice_audit_batch_size_count)`, atLeast(1), ">= 1"},
		{`sluice_dns_queries_total{result="answered"}`, atLeast(1), ">= 1"},
		{`sluice_dns_queries_total{result="nxdomain"}`, atLeast(1), ">= 1"},
		{`up{job="sluice"}`, equals(1), "1"},
	} {
		p.waitValue(t, 20*time.Second, c.q, c.want, c.what)
	}

	// A bad registry file: the reload fails (counted by kind), the last
	// good set stays in force.
	var notZero []string // failure counters not exported at 0 before any failure
	for _, q := range []string{
		`sluice_config_reloads_total{kind="registry",result="failure"}`,
		`sluice_config_reloads_total{kind="policy",result="failure"}`,
		`sluice_audit_write_errors_total`,
	} {
		if v, _ := p.value(q); v != 0 {
			notZero = append(notZero, q)
		}
	}
	g.WriteRegistry("bad.yaml", "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: bad, namespace: test}\nspec:\n  ports: [{number: 80, name: http, protocol: HTTP}]\n")
	g.Reload()
	failures := p.waitValue(t, 20*time.Second, `sluice_config_reloads_total{kind="registry",result="failure"}`, atLeast(1), ">= 1 after a bad registry file")
	if status, _, _, _ := curl(t, "-x", "http://"+g.Proxy, "http://api.test.example/ok"); status != 200 {
		t.Errorf("after a failed reload the last good registry must stay in force: status %d", status)
	}

	// The alerting rules are loaded and evaluate without error against the
	// real series, and fire with the real labels. A counter series born at
	// 1 shows no increase() (deploy/prometheus/sluice-alerts.test.yaml), so
	// once Prometheus holds a sample of each, one more failure of each kind
	// must fire its alert.
	checkRulesHealthy(t, p)
	g.Reload()
	p.waitValue(t, 20*time.Second, `sluice_config_reloads_total{kind="registry",result="failure"}`, atLeast(failures+1), "one more failure")
	waitAlert(t, p, "SluiceConfigReloadFailing", map[string]string{"kind": "registry", "instance": g.Admin, "job": "sluice"})
	if status, _, _, _ := curl(t, "-x", "http://"+g.Proxy, "http://api.test.example/conflict"); status != 403 {
		t.Fatalf("policy-error call: %d", status)
	}
	p.waitValue(t, 20*time.Second, `sluice_requests_total{`+sel+`,reason="policy_error"}`, equals(2), "2")
	waitAlert(t, p, "SluicePolicyErrors", map[string]string{"listener": "proxy", "instance": g.Admin, "job": "sluice"})
	for _, q := range notZero {
		t.Errorf("%s is not exported at 0 before the first failure, so its alert cannot fire on a first failure (internal/telemetry/README.md, \"Counters start at zero\")", q)
	}

	checkDashboardQueries(t, p)
}

// checkRulesHealthy asserts every rule of deploy/prometheus is loaded and
// evaluates without error.
func checkRulesHealthy(t testing.TB, p *prom) {
	t.Helper()
	var names []string
	Eventually(t, 15*time.Second, "every alerting rule evaluated with health ok", func() bool {
		var r struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name      string `json:"name"`
						Health    string `json:"health"`
						LastError string `json:"lastError"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if p.api("/api/v1/rules", &r) != nil {
			return false
		}
		names = names[:0]
		ok := true
		for _, gr := range r.Data.Groups {
			for _, rule := range gr.Rules {
				names = append(names, rule.Name)
				if rule.Health != "ok" {
					if rule.LastError != "" {
						t.Errorf("rule %s: %s", rule.Name, rule.LastError)
					}
					ok = false
				}
			}
		}
		return ok && len(names) >= 6
	})
	t.Logf("alerting rules loaded and healthy: %v", names)
}

// waitAlert waits until alertname fires (or is pending) with labels.
func waitAlert(t testing.TB, p *prom, alertname string, labels map[string]string) {
	t.Helper()
	Eventually(t, 20*time.Second, "alert "+alertname+" "+fmt.Sprint(labels), func() bool {
		var r struct {
			Data struct {
				Alerts []struct {
					Labels map[string]string `json:"labels"`
					State  string            `json:"state"`
				} `json:"alerts"`
			} `json:"data"`
		}
		if p.api("/api/v1/alerts", &r) != nil {
			return false
		}
		for _, a := range r.Data.Alerts {
			if a.Labels["alertname"] != alertname || a.State != "firing" {
				continue
			}
			match := true
			for k, v := range labels {
				match = match && a.Labels[k] == v
			}
			if match {
				return true
			}
		}
		return false
	})
}

// dashboard is the part of a Grafana dashboard these tests read.
type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Type       string          `json:"type"`
		Title      string          `json:"title"`
		Datasource json.RawMessage `json:"datasource"`
		Targets    []struct {
			Expr       string          `json:"expr"`
			Datasource json.RawMessage `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

func loadDashboard(t testing.TB) dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "grafana", "sluice-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("sluice-dashboard.json: %v", err)
	}
	return d
}

// grafanaVars stands in for Grafana's template variables in an
// expression, as Grafana would expand them for "All".
var grafanaVars = strings.NewReplacer("$__rate_interval", "30s", "$__interval", "15s", `"$job"`, `".*"`, `"$instance"`, `".*"`)

// checkDashboardQueries runs every dashboard expression against the real
// Prometheus: each must be valid PromQL, and those over metrics the test
// produced must return data.
func checkDashboardQueries(t testing.TB, p *prom) {
	t.Helper()
	mayBeEmpty := regexp.MustCompile(`sluice_connections_rejected_total|sluice_audit_write_errors_total`)
	n := 0
	for _, panel := range loadDashboard(t).Panels {
		for _, tg := range panel.Targets {
			q := grafanaVars.Replace(tg.Expr)
			if strings.Contains(q, "$") {
				t.Errorf("panel %q: unexpanded variable in %s", panel.Title, q)
				continue
			}
			res, err := p.query(q)
			if err != nil {
				t.Errorf("panel %q: %v", panel.Title, err)
				continue
			}
			n++
			if len(res) == 0 && !mayBeEmpty.MatchString(q) {
				t.Errorf("panel %q: no data for %s", panel.Title, q)
			}
		}
	}
	t.Logf("%d dashboard queries valid against the real Prometheus", n)
}

// The dashboard is importable: a datasource variable that every panel
// uses, job/instance variables, and panels for every metric family of
// docs/contract.md §9.
func TestTelemetryDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard needs uid and title: %q %q", d.UID, d.Title)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" || vars["job"] != "query" || vars["instance"] != "query" {
		t.Errorf("template variables: %v, want datasource (datasource), job and instance (query)", vars)
	}
	all := ""
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if !strings.Contains(string(p.Datasource), "${datasource}") {
			t.Errorf("panel %q: datasource %s, want the ${datasource} variable", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if !strings.Contains(string(tg.Datasource), "${datasource}") {
				t.Errorf("panel %q: target datasource %s", p.Title, tg.Datasource)
			}
			if !strings.Contains(tg.Expr, `job=~"$job"`) {
				t.Errorf("panel %q: %s does not filter by $job", p.Title, tg.Expr)
			}
			all += tg.Expr + "\n"
		}
	}
	for _, m := range []string{
		"sluice_requests_total", "sluice_request_duration_seconds_bucket", "sluice_upstream_bytes_total",
		"sluice_dns_queries_total", "sluice_policy_eval_duration_seconds_bucket", "sluice_audit_write_errors_total",
		"sluice_audit_batch_size", "sluice_config_reloads_total", "sluice_active_connections",
		`reason="policy_error"`, `decision="deny"`,
	} {
		if !strings.Contains(all, m) {
			t.Errorf("no panel uses %s", m)
		}
	}
}

// promtool accepts the alerting rules and the sample configuration, and
// the rules' unit tests pass.
func TestTelemetryAlertRules(t *testing.T) {
	promtool := lookTool(t, "promtool")
	dir := filepath.Join(repoRoot(t), "deploy", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", "sluice-alerts.yaml"},
		{"test", "rules", "sluice-alerts.test.yaml"},
		{"check", "config", "prometheus.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			continue
		}
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), bytes.TrimSpace(out))
	}
}

// ---------------------------------------------------------------------------
// OpenTelemetry Collector

// collector is a running otelcol-sluice whose file exporter writes OTLP
// JSON lines to File.
type collector struct {
	*proc
	GRPC, HTTP string // host:port of the OTLP receivers
	File       string
}

func startCollector(t testing.TB) *collector {
	t.Helper()
	bin := otelcolBin(t)
	dir := t.TempDir()
	c := &collector{
		GRPC: fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		HTTP: fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		File: filepath.Join(dir, "spans.jsonl"),
	}
	cfg := filepath.Join(dir, "otelcol.yaml")
	WriteFile(t, cfg, fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc: {endpoint: %q}
      http: {endpoint: %q}
processors:
  batch: {timeout: 200ms}
exporters:
  debug: {verbosity: basic}
  file: {path: %q, flush_interval: 100ms}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [debug, file]}
`, c.GRPC, c.HTTP, c.File))
	c.proc = startProc(t, "otelcol", bin, "--config="+cfg)
	c.waitUp(t, 30*time.Second, func() bool {
		for _, a := range []string{c.GRPC, c.HTTP} {
			conn, err := net.DialTimeout("tcp", a, time.Second)
			if err != nil {
				return false
			}
			conn.Close()
		}
		return true
	})
	return c
}

// otlpSpan is one span of the file exporter's OTLP JSON, with its
// resource attributes.
type otlpSpan struct {
	TraceID      string
	SpanID       string
	ParentSpanID string
	Name         string
	Kind         int
	Attrs        map[string]string
	Resource     map[string]string
}

type otlpAttr struct {
	Key   string `json:"key"`
	Value struct {
		S *string          `json:"stringValue"`
		I *json.RawMessage `json:"intValue"`
		B *bool            `json:"boolValue"`
		D *float64         `json:"doubleValue"`
	} `json:"value"`
}

func attrMap(as []otlpAttr) map[string]string {
	m := map[string]string{}
	for _, a := range as {
		switch v := a.Value; {
		case v.S != nil:
			m[a.Key] = *v.S
		case v.I != nil:
			m[a.Key] = strings.Trim(string(*v.I), `"`) // int64 is a JSON string in OTLP JSON
		case v.B != nil:
			m[a.Key] = strconv.FormatBool(*v.B)
		case v.D != nil:
			m[a.Key] = strconv.FormatFloat(*v.D, 'g', -1, 64)
		}
	}
	return m
}

// spans reads every span the file exporter has written so far.
func (c *collector) spans(t testing.TB) []otlpSpan {
	t.Helper()
	b, err := os.ReadFile(c.File)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []otlpSpan
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var doc struct {
			ResourceSpans []struct {
				Resource struct {
					Attributes []otlpAttr `json:"attributes"`
				} `json:"resource"`
				ScopeSpans []struct {
					Spans []struct {
						TraceID      string     `json:"traceId"`
						SpanID       string     `json:"spanId"`
						ParentSpanID string     `json:"parentSpanId"`
						Name         string     `json:"name"`
						Kind         int        `json:"kind"`
						Attributes   []otlpAttr `json:"attributes"`
					} `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		}
		if err := json.Unmarshal(line, &doc); err != nil {
			continue // a line being written; the next poll reads it whole
		}
		for _, rs := range doc.ResourceSpans {
			res := attrMap(rs.Resource.Attributes)
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					out = append(out, otlpSpan{TraceID: s.TraceID, SpanID: s.SpanID, ParentSpanID: s.ParentSpanID,
						Name: s.Name, Kind: s.Kind, Attrs: attrMap(s.Attributes), Resource: res})
				}
			}
		}
	}
	return out
}

// The real Collector receives one span per call, over OTLP/gRPC and
// OTLP/HTTP, in the caller's trace and as a child of the caller's span;
// the upstream receives a traceparent of the same trace whose parent is
// Sluice's span; the audit records carry the trace id.
func TestTelemetryOTLPCollector(t *testing.T) {
	col := startCollector(t)
	up := startUpstream(t)
	for i, tc := range []struct{ name, endpoint string }{
		{"grpc", "grpc://" + col.GRPC},
		{"http", "http://" + col.HTTP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			traceID := fmt.Sprintf("4bf92f3577b34da6a3ce929d0e0e47%02x", i)
			const callerSpan = "00f067aa0ba902b7"
			tp := "00-" + traceID + "-" + callerSpan + "-01"
			g := StartGateway(t, Options{
				Config: fmt.Sprintf("telemetry: {otlp_endpoint: %q, service_name: sluice-e2e}\n", tc.endpoint),
				Files:  map[string]string{"registry/api.yaml": staticSE("api", "api.test.example", 80, "HTTP", up.Port)},
			})
			const n = 4
			upstreamParent := map[string]string{} // request id → traceparent the upstream received
			for j := 0; j < n; j++ {
				status, body, serr, _ := curl(t, "-x", "http://"+g.Proxy, fmt.Sprintf("http://api.test.example/call/%d", j), "-H", "traceparent: "+tp)
				if status != 200 {
					t.Fatalf("call %d: %d %s %s", j, status, body, serr)
				}
				var e echoed
				if err := json.Unmarshal([]byte(body), &e); err != nil {
					t.Fatalf("echo: %v\n%s", err, body)
				}
				upstreamParent[strings.Join(e.Header["Sluice-Request-Id"], "")] = strings.Join(e.Header["Traceparent"], ",")
			}
			// A denied call is a call too: it gets its span.
			if status, body, _, _ := curl(t, "-x", "http://"+g.Proxy, "http://undeclared.test.example/", "-H", "traceparent: "+tp); status != 403 {
				t.Fatalf("denied call: %d %s", status, body)
			}

			var got []otlpSpan
			waitUntil(col.exited, 20*time.Second, func() bool {
				got = got[:0]
				for _, s := range col.spans(t) {
					if s.TraceID == traceID {
						got = append(got, s)
					}
				}
				return len(got) >= n+1
			})
			if len(got) != n+1 {
				t.Fatalf("the Collector received %d spans of trace %s, want %d (one per call): %+v", len(got), traceID, n+1, got)
			}
			allowed := 0
			for _, s := range got {
				if s.ParentSpanID != callerSpan {
					t.Errorf("span %s: parent %q, want the caller's span %s", s.SpanID, s.ParentSpanID, callerSpan)
				}
				if s.Kind != 3 {
					t.Errorf("span %s: kind %d, want 3 (client)", s.SpanID, s.Kind)
				}
				if s.Resource["service.name"] != "sluice-e2e" || s.Resource["service.instance.id"] != "e2e-gw" || s.Resource["service.version"] == "" {
					t.Errorf("span %s: resource %v, want service.name sluice-e2e, service.instance.id e2e-gw and a version", s.SpanID, s.Resource)
				}
				a := s.Attrs
				if a["sluice.listener"] != "proxy" || a["http.request.method"] != "GET" || a["server.port"] != "80" {
					t.Errorf("span %s: attributes %v", s.SpanID, a)
				}
				switch a["sluice.decision"] {
				case "allow":
					allowed++
					if a["server.address"] != "api.test.example" || a["http.response.status_code"] != "200" ||
						!strings.HasPrefix(a["url.full"], fmt.Sprintf("http://api.test.example:%d/call/", up.Port)) ||
						a["sluice.service_entry"] == "" || a["error.type"] != "" {
						t.Errorf("allowed span %s: attributes %v", s.SpanID, a)
					}
					rid := a["sluice.request_id"]
					want := "00-" + traceID + "-" + s.SpanID + "-01"
					if got, ok := upstreamParent[rid]; !ok || got != want {
						t.Errorf("call %s: the upstream received traceparent %q, want %q (Sluice's span as parent)", rid, got, want)
					}
					r := waitRecord(t, g, url.Values{"host": {"api.test.example"}}, "record "+rid, func(r record) bool { return r.str("id") == rid })
					if r.str("trace_id") != traceID {
						t.Errorf("record %s: trace_id %q, want %s", rid, r.str("trace_id"), traceID)
					}
				case "deny":
					if a["sluice.reason"] != "undeclared_destination" || a["server.address"] != "undeclared.test.example" ||
						a["error.type"] != "undeclared_destination" {
						t.Errorf("denied span %s: attributes %v", s.SpanID, a)
					}
				default:
					t.Errorf("span %s: sluice.decision %q", s.SpanID, a["sluice.decision"])
				}
			}
			if allowed != n {
				t.Errorf("%d allowed spans, want %d", allowed, n)
			}
			r := waitRecord(t, g, url.Values{"decision": {"deny"}}, "the denied call", func(r record) bool { return r.str("host") == "undeclared.test.example" })
			if r.str("trace_id") != traceID {
				t.Errorf("denied record: trace_id %q, want %s", r.str("trace_id"), traceID)
			}
		})
	}
}
