package e2e

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// The console's tokens in these tests.
const (
	consoleAdminToken   = "adm1n-e2e-4f1c9a7b2d"
	consoleAuditorToken = "aud1t-e2e-8c3e5f0a6b"
)

// chromiumPath finds Debian's Chromium, or skips the test outside CI with
// the way to install it (scripts/deps.sh installs it for `make test`).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (scripts/deps.sh installs it)")
	}
	t.Skip("chromium is not installed: apt-get install -y --no-install-recommends chromium chromium-driver (or scripts/deps.sh)")
	return ""
}

// artifactDir is where the console tests leave their screenshots:
// $SLUICE_ARTIFACTS, else e2e/testdata/artifacts/<test> (ignored by git).
func artifactDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("SLUICE_ARTIFACTS")
	if root == "" {
		root = filepath.Join("testdata", "artifacts")
	}
	dir, err := filepath.Abs(filepath.Join(root, t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// adminCall calls the admin API with a bearer token ("" for none).
func adminCall(t testing.TB, g *Gateway, method, path, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+g.Admin+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// tokenRecords reads GET /v1/audit with the admin token.
func tokenRecords(t testing.TB, g *Gateway, q url.Values) []record {
	t.Helper()
	code, body := adminCall(t, g, "GET", "/v1/audit?"+q.Encode(), consoleAdminToken)
	if code != 200 {
		t.Fatalf("GET /v1/audit?%s = %d: %s", q.Encode(), code, body)
	}
	var out struct {
		Records []record `json:"records"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("decode: %v\n%s", err, body)
	}
	return out.Records
}

// consoleGateway starts a gateway with both tokens, a metered loopback
// destination, and calls from two workloads: checkout makes 3 allowed
// calls and 9 denied ones, billing 2 allowed. Each allowed call costs
// 0.25 USD: 1.25 in all.
func consoleGateway(t *testing.T) *Gateway {
	up := startUpstream(t)
	g := StartGateway(t, Options{
		Config: fmt.Sprintf("admin: {token: %s, auditor_token: %s}\n"+
			"cost: {currency: USD, meters: [{name: api.call, host: api.test.example, per_request: 0.25}]}\n",
			consoleAdminToken, consoleAuditorToken),
		Files: map[string]string{"registry/api.yaml": staticSE("api", "api.test.example", 80, "HTTP", up.Port)},
	})
	call := func(user, target string, want int) {
		status, body, serr, _ := curl(t, "-x", "http://"+g.Proxy, "--proxy-user", user+":x", target)
		if status != want {
			t.Fatalf("%s %s: %d, want %d: %s %s", user, target, status, want, body, serr)
		}
	}
	for i := range 3 {
		call("checkout", fmt.Sprintf("http://api.test.example/v1/items/%d", i), 200)
	}
	for i := range 9 {
		call("checkout", fmt.Sprintf("http://undeclared%d.test.example/", i), 403)
	}
	for i := range 2 {
		call("billing", fmt.Sprintf("http://api.test.example/v1/charges/%d", i), 200)
	}
	Eventually(t, 10*time.Second, "14 ended call records", func() bool {
		n := 0
		for _, r := range tokenRecords(t, g, url.Values{"event": {"outbound_call"}, "limit": {"0"}}) {
			if r.str("time_end") != "" {
				n++
			}
		}
		return n == 14
	})
	return g
}

// TestConsoleAccess: without a token, or with a wrong one, nothing is
// read; the auditor token reads records, cost and registry and is
// refused on the admin-only paths (reload, pprof, policy). Reads and
// refused attempts are all on record.
func TestConsoleAccess(t *testing.T) {
	g := consoleGateway(t)
	for _, tc := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/v1/audit", "", 401},
		{"GET", "/v1/audit", "wrong-token-123456", 401},
		{"GET", "/v1/audit/export?format=csv", "", 401},
		{"GET", "/v1/audit/tail", "", 401},
		{"GET", "/v1/cost", "", 401},
		{"GET", "/v1/audit", consoleAuditorToken, 200},
		{"GET", "/v1/cost", consoleAuditorToken, 200},
		{"GET", "/v1/cost/series?since=24h", consoleAuditorToken, 200},
		{"GET", "/v1/registry", consoleAuditorToken, 200},
		{"POST", "/v1/reload", consoleAuditorToken, 403},
		{"GET", "/debug/pprof/", consoleAuditorToken, 403},
		{"GET", "/v1/policy", consoleAuditorToken, 403},
		{"POST", "/v1/reload", consoleAdminToken, 200},
		{"GET", "/debug/pprof/", consoleAdminToken, 200},
		{"GET", "/ui/", "", 200}, // the page itself holds no records
	} {
		if code, body := adminCall(t, g, tc.method, tc.path, tc.token); code != tc.want {
			t.Errorf("%s %s with %q: %d, want %d: %s", tc.method, tc.path, tc.token, code, tc.want, body)
		}
	}
	// FinOps' export, from the gateway with the auditor token: FOCUS rows
	// adding up to the cost of the allowed calls (5 × 0.25 USD).
	out, code := g.Run("cost", "export", "--format", "focus", "--server", g.Admin, "--token", consoleAuditorToken, "--since", "1h", "--period", "hour")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) < 3 {
		t.Fatalf("cost export: exit %d, %v\n%s", code, err, out)
	}
	billed, total := slices.Index(rows[0], "BilledCost"), 0.0
	for _, r := range rows[1:] {
		var v float64
		fmt.Sscanf(r[billed], "%g", &v)
		total += v
	}
	if total < 1.2499 || total > 1.2501 {
		t.Errorf("FOCUS export bills %v, want 1.25:\n%s", total, out)
	}

	// A proof carries a record: reading one is a read too (none logged
	// for that id here: 404).
	if code, body := adminCall(t, g, "GET", "/v1/audit/proof?id=01NOSUCHRECORD", consoleAuditorToken); code != 404 {
		t.Errorf("proof: %d %s", code, body)
	}

	// The auditor's reads are on record, allowed.
	reads := tokenRecords(t, g, url.Values{"event": {"audit_read"}, "source": {"auditor"}, "decision": {"allow"}, "limit": {"0"}})
	var paths []string
	for _, r := range reads {
		paths = append(paths, r.str("path"))
	}
	for _, want := range []string{"/v1/audit", "/v1/cost", "/v1/cost/series?since=24h", "/v1/cost/series?by=source%2Cdestination%2Cmeter", "/v1/audit/proof?id=01NOSUCHRECORD"} {
		if !slices.ContainsFunc(paths, func(p string) bool { return strings.HasPrefix(p, want) }) {
			t.Errorf("the auditor's read of %s is not on record: %v", want, paths)
		}
	}
	// So are the refused attempts: 401 without a token ("none") or with a
	// wrong one ("invalid"), 403 for the auditor on admin-only paths;
	// denied, with the reason, the status, the address and the path.
	refused := func() []record {
		return tokenRecords(t, g, url.Values{"event": {"audit_read"}, "decision": {"deny"}, "limit": {"0"}})
	}
	got := map[string]record{}
	for _, r := range refused() {
		got[r.str("source_workload")+" "+r.str("path")] = r
	}
	for _, want := range []struct {
		who, path, reason string
		status            float64
	}{
		{"none", "/v1/audit", "admin_unauthorized", 401},
		{"invalid", "/v1/audit", "admin_unauthorized", 401},
		{"none", "/v1/cost", "admin_unauthorized", 401},
		{"auditor", "/v1/reload", "admin_forbidden", 403},
		{"auditor", "/v1/policy", "admin_forbidden", 403},
	} {
		r, ok := got[want.who+" "+want.path]
		if !ok {
			t.Errorf("the refused %s attempt on %s is not on record: %v", want.who, want.path, slices.Collect(maps.Keys(got)))
			continue
		}
		if r.str("reason") != want.reason || r.num("status") != want.status || r.str("source_ip") != "127.0.0.1" ||
			r.str("listener") != "admin" || r.str("identity_source") == "" {
			t.Errorf("the refused %s attempt on %s: %v", want.who, want.path, r)
		}
	}
	// A flood of refused attempts from one address is one record at once
	// (or none, when the first of the window was the 401 above) and one
	// count when its window (10 s) ends, not a record each.
	for range 40 {
		if code, _ := adminCall(t, g, "GET", "/v1/audit?flood=1", ""); code != 401 {
			t.Fatalf("flood: %d", code)
		}
	}
	flood := func() (n int, count float64) {
		for _, r := range refused() {
			if r.str("path") == "/v1/audit?flood=1" {
				n, count = n+1, count+max(r.num("count"), 1)
			}
		}
		return n, count
	}
	Eventually(t, 20*time.Second, "the flood's count on record", func() bool { _, c := flood(); return c == 40 })
	if n, _ := flood(); n > 2 {
		t.Errorf("a flood of 40 refused attempts left %d records, want at most 2 (the first, then the count)", n)
	}
}

// void runs a, dropping its value, as a step.
func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

// into runs a and stores its value in *v, as a step.
func into[T any](a chromedp.Action[T], v *T) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		var err error
		*v, err = a(ctx, t)
		return chromedp.Void{}, err
	}
}

// TestConsoleInChromium drives the console in a real headless Chromium
// with the auditor token: filter by workload and decision, page through,
// open a call's detail, see the cost chart's totals, export CSV; the
// screenshots are left in artifactDir. Every read it made is on record.
func TestConsoleInChromium(t *testing.T) {
	chrome := chromiumPath(t)
	g := consoleGateway(t)
	art := artifactDir(t)
	downloads := t.TempDir()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox,
		chromedp.WindowSize(1400, 1000), chromedp.Flag("proxy-server", "direct://"))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // start the browser, without a timeout on it
		t.Fatalf("starting chromium: %v", err)
	}
	ctx, cancelT := context.WithTimeout(ctx, 120*time.Second)
	defer cancelT()

	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(art, name+".png"), png, 0o644)
		})
	}
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			_ = chromedp.Do(ctx, shot("failed-"+strings.ReplaceAll(what, " ", "-")))
			t.Fatalf("%s: %v", what, err)
		}
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	waitText := func(sel, sub string) chromedp.Action[chromedp.Void] {
		return void(chromedp.Poll[bool](fmt.Sprintf(`!!(document.querySelector(%q) && document.querySelector(%q).textContent.includes(%q))`,
			sel, sel, sub), chromedp.WithPollingTimeout(15*time.Second)))
	}
	eval := func(expr string, v any) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			raw, err := chromedp.Evaluate[json.RawMessage](expr)(ctx, tg)
			if err != nil {
				return err
			}
			return json.Unmarshal(raw, v)
		})
	}
	ui := "http://" + g.Admin + "/ui/"

	// Without a token: the sign-in form and no records; a wrong token is refused.
	var shown int
	run("open without a token",
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"})
			return err
		}),
		chromedp.Navigate(ui),
		chromedp.WaitVisible(css(`#signin`)),
		eval(`document.querySelectorAll('#results tbody tr').length`, &shown),
		chromedp.SendKeys(css(`#token`), "not-the-token-1234"),
		chromedp.Click(css(`#token-form button[type=submit]`)),
		waitText(`#error`, "401"),
		shot("01-refused-without-token"))
	if shown != 0 {
		t.Errorf("records shown without a token: %d", shown)
	}

	// The auditor token, in the fragment: signed in, the newest records,
	// times in the viewer's zone (Tokyo is UTC+9).
	run("sign in as auditor",
		chromedp.Navigate(ui+"#token="+consoleAuditorToken),
		waitText(`#who`, "Signed in as auditor"),
		waitText(`#summary`, "records, newest first"),
		waitText(`.tzname`, "Asia/Tokyo"),
		waitText(`#results tbody`, "+09:00"),
		shot("02-signed-in"))

	// Filter by workload and by decision: checkout's 9 denials.
	setFilter := func(source, decision, limit string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.SetValue(css(`#filter input[name=source]`), source),
			chromedp.SetValue(css(`#filter select[name=decision]`), decision),
			chromedp.SetValue(css(`#filter select[name=limit]`), limit),
			chromedp.Click(css(`#search`)),
		)
	}
	var decisions []string
	run("filter checkout's denials",
		setFilter("checkout", "deny", "50"),
		waitText(`#summary`, "9 records"),
		eval(`Array.from(document.querySelectorAll('#results tbody td.decision')).map(td => td.textContent)`, &decisions),
		shot("03-filter-workload-deny"))
	if len(decisions) != 9 || slices.ContainsFunc(decisions, func(d string) bool { return d != "deny" }) {
		t.Errorf("checkout's denials: %v", decisions)
	}

	// Page through checkout's 12 records, 10 a page: 10, then 2, no overlap.
	var page1, page2 []string
	ids := `Array.from(document.querySelectorAll('#results tbody td.id')).map(td => td.textContent)`
	run("page through",
		setFilter("checkout", "", "10"),
		waitText(`#summary`, "10 records"),
		eval(ids, &page1),
		shot("04-page-1"),
		chromedp.Click(css(`#next`)),
		waitText(`#summary`, "2 records"),
		waitText(`#page`, "Page 2"),
		eval(ids, &page2),
		shot("05-page-2"))
	var wantIDs []string
	for _, r := range tokenRecords(t, g, url.Values{"source": {"checkout"}, "limit": {"0"}}) {
		wantIDs = append(wantIDs, r.str("id"))
	}
	if got := append(slices.Clone(page1), page2...); !slices.Equal(got, wantIDs) {
		t.Errorf("pages:\n got %v\nwant %v", got, wantIDs)
	}

	// One allowed call's detail: every field, the ServiceEntry matched, the trace id.
	var detailID, firstID, se string
	run("open a call's detail",
		setFilter("billing", "allow", "50"),
		waitText(`#summary`, "2 records, newest first (page 1"),
		waitText(`#results tbody`, "billing"),
		into(chromedp.Text(css(`#results tbody tr:first-child td.id`)), &firstID),
		chromedp.Click(css(`#results tbody tr:first-child`)),
		chromedp.WaitVisible(css(`#detail`)),
		waitText(`#detail-fields`, "policy_rules"),
		waitText(`#detail-se`, "api.test.example"),
		into(chromedp.Text(css(`#detail-id`)), &detailID),
		into(chromedp.TextContent(css(`#detail-se`)), &se),
		shot("06-detail"))
	if detailID != firstID || !strings.Contains(se, "test/api") || !strings.Contains(se, "api.test.example") {
		t.Errorf("detail of %s shows %s, service entry %q", firstID, detailID, se)
	}

	// Export the current filter (billing's allowed calls) as CSV.
	run("export CSV",
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
			return err
		}),
		chromedp.Click(css(`#export-csv`)))
	var csvPath string
	Eventually(t, 15*time.Second, "the CSV download", func() bool {
		m, _ := filepath.Glob(filepath.Join(downloads, "sluice-records-*.csv"))
		if len(m) == 1 {
			csvPath = m[0]
		}
		return csvPath != ""
	})
	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	rowsCSV, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rowsCSV) != 3 || rowsCSV[0][0] != "id" {
		t.Fatalf("exported CSV: %v %v", err, rowsCSV)
	}
	for _, r := range rowsCSV[1:] {
		if line := strings.Join(r, ","); !strings.Contains(line, ",billing,") || !strings.Contains(line, ",allow,") {
			t.Errorf("exported row outside the filter: %v", r)
		}
	}

	// Cost: the chart and the table both add up to 5 × 0.25 USD.
	var chartTotal, tableTotal, bars, costText string
	run("cost chart",
		chromedp.Click(css(`#tabs button[data-tab=cost]`)),
		chromedp.WaitVisible(css(`#cost-svg`)),
		waitText(`#cost-total`, "USD"),
		eval(`document.querySelector('#cost-svg').getAttribute('data-total')`, &chartTotal),
		eval(`document.querySelector('#cost-total').dataset.total`, &tableTotal),
		eval(`Array.from(document.querySelectorAll('#cost-svg rect.bar')).reduce((s, r) => s + Number(r.dataset.cost), 0).toFixed(6)`, &bars),
		into(chromedp.Text(css(`#cost-total`)), &costText),
		shot("07-cost"))
	if chartTotal != "1.250000" || tableTotal != "1.250000" || bars != "1.250000" {
		t.Errorf("cost totals: chart %q, bars %q, table %q; want 1.250000", chartTotal, bars, tableTotal)
	}
	if !strings.Contains(costText, "1.250000 USD over 5 calls") {
		t.Errorf("cost total text: %q", costText)
	}

	// Live tail: a call made now appears.
	run("start the tail",
		chromedp.Click(css(`#tabs button[data-tab=tail]`)),
		void(chromedp.Evaluate[bool](`document.querySelector('#filter input[name=source]').value = ''; `+
			`document.querySelector('#filter select[name=decision]').value = ''; true`)),
		chromedp.Click(css(`#tail-start`)),
		waitText(`#tail-state`, "following"),
		chromedp.Sleep(1500*time.Millisecond))
	if status, body, serr, _ := curl(t, "-x", "http://"+g.Proxy, "--proxy-user", "tailer:x", "http://api.test.example/v1/tail"); status != 200 {
		t.Fatalf("tail call: %d %s %s", status, body, serr)
	}
	run("see it in the tail",
		waitText(`#tail-rows tbody`, "api.test.example:80/v1/tail"),
		shot("08-tail"),
		chromedp.Click(css(`#tail-stop`)))

	// Every read the console made is on record, with its filter.
	reads := tokenRecords(t, g, url.Values{"event": {"audit_read"}, "source": {"auditor"}, "limit": {"0"}})
	var paths []string
	for _, r := range reads {
		if r.str("identity_source") != "admin_token" || r.str("listener") != "admin" || r.str("source_ip") != "127.0.0.1" {
			t.Errorf("read record: %v", r)
		}
		paths = append(paths, r.str("path"))
	}
	all := strings.Join(paths, "\n")
	for _, want := range []string{
		"source=checkout", "decision=deny", "after=" + page1[len(page1)-1], "id=" + firstID,
		"/v1/audit/export?", "format=csv", "/v1/cost/series?", "/v1/cost?", "/v1/audit/tail?",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no recorded read with %q among:\n%s", want, all)
		}
	}
	t.Logf("screenshots in %s; %d reads on record", art, len(reads))
}
