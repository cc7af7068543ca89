package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// kubeSE is a ServiceEntry for host in namespace team, port 80 HTTP dialled
// at 127.0.0.1:target (a STATIC endpoint: the test's upstream).
func kubeSE(name, host string, target int) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %s, namespace: team}
spec:
  hosts: [%s]
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: %d}]
  endpoints: [{address: 127.0.0.1}]
`, name, host, target)
}

// A gateway reading the cluster as the shipped ServiceAccount follows the
// API: a ServiceEntry allows its host within 2 s of kubectl apply and
// stops within 2 s of kubectl delete; an invalid one is skipped with a
// Kubernetes Event on it while the last good set keeps serving; and
// /v1/registry names each object's namespace, name and resourceVersion.
func TestKubernetesRegistryFollowsTheAPI(t *testing.T) {
	k := startKubeEnv(t, "team")
	up := startUpstream(t)
	g := k.gateway(t, nil)
	const host = "http://api.team.example/"

	if st, reason := proxyStatus(g, host); st != 403 || reason != "undeclared_destination" {
		t.Fatalf("before apply: %d %s", st, reason)
	}
	k.MustKubectl(t, kubeSE("api", "api.team.example", up.Port), "apply", "-f", "-")
	took := within(t, 2*time.Second, "allowed after apply", func() bool { st, _ := proxyStatus(g, host); return st == 200 })
	t.Logf("allowed %s after kubectl apply returned", took.Round(time.Millisecond))

	_, body := g.AdminGet("/v1/registry")
	var view struct {
		Destinations []struct {
			ServiceEntry string                `json:"service_entry"`
			Source       struct{ File string } `json:"source"`
		} `json:"destinations"`
	}
	if err := json.Unmarshal(body, &view); err != nil {
		t.Fatal(err)
	}
	rv := strings.TrimSpace(k.MustKubectl(t, "", "get", "serviceentry", "-n", "team", "api", "-o", "jsonpath={.metadata.resourceVersion}"))
	want := "kubernetes:team/serviceentry/api?resourceVersion=" + rv
	if len(view.Destinations) != 1 || view.Destinations[0].ServiceEntry != "team/api" || view.Destinations[0].Source.File != want {
		t.Errorf("/v1/registry does not name the object and its resourceVersion %s:\n%s", want, body)
	}

	// An invalid edit (a wildcard host resolved by DNS without endpoints:
	// the CRD's schema lets it through, Istio's validation does not) and
	// an invalid new object: both skipped with an Event; the last good
	// version of the edited one keeps serving.
	k.MustKubectl(t, `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: team}
spec:
  hosts: ["*.team.example"]
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP}]
`, "apply", "-f", "-")
	k.MustKubectl(t, `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: broken, namespace: team}
spec:
  hosts: [broken.team.example]
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: not-an-ip.example}]
`, "apply", "-f", "-")
	events := func() string {
		return k.MustKubectl(t, "", "get", "events", "-n", "team", "--field-selector", "reason=SluiceRejected",
			"-o", `jsonpath={range .items[*]}{.involvedObject.kind}/{.involvedObject.name}@{.involvedObject.resourceVersion}: {.message}{"\n"}{end}`)
	}
	within(t, 10*time.Second, "an Event on each invalid ServiceEntry", func() bool {
		e := events()
		return strings.Contains(e, "ServiceEntry/api@") && strings.Contains(e, "ServiceEntry/broken@")
	})
	e := events()
	if !strings.Contains(e, "hosts must be FQDN") || !strings.Contains(e, "last good version stays in force") ||
		!strings.Contains(e, `endpoint address "not-an-ip.example" is not a valid IP address`) {
		t.Errorf("events do not say what is wrong:\n%s", e)
	}
	if st, reason := proxyStatus(g, host); st != 200 {
		t.Errorf("the last good version stopped serving: %d %s", st, reason)
	}
	if st, reason := proxyStatus(g, "http://broken.team.example/"); st != 403 || reason != "undeclared_destination" {
		t.Errorf("the invalid ServiceEntry was applied: %d %s", st, reason)
	}
	if !strings.Contains(g.Logs(), "resource skipped") {
		t.Errorf("the skipped resources were not logged")
	}
	_, body = g.AdminGet("/v1/registry")
	if !strings.Contains(string(body), `"last_good_kept": true`) || !strings.Contains(string(body), "kubernetes:team/serviceentry/broken?resourceVersion=") {
		t.Errorf("/v1/registry does not list the skipped objects:\n%s", body)
	}

	// sluice validate reads the cluster too and names the bad objects.
	out, code := g.Run("validate", "-c", g.Config)
	if code != 1 || !strings.Contains(out, "kubernetes:team/serviceentry/broken?resourceVersion=") {
		t.Errorf("validate: exit %d\n%s", code, out)
	}

	// Delete: denied within 2 s.
	k.MustKubectl(t, "", "delete", "serviceentry", "-n", "team", "api", "broken")
	took = within(t, 2*time.Second, "denied after delete", func() bool {
		st, reason := proxyStatus(g, host)
		return st == 403 && reason == "undeclared_destination"
	})
	t.Logf("denied %s after kubectl delete returned", took.Round(time.Millisecond))
}

// exportTo is judged from the gateway's namespace: "." in another
// namespace and "~" hide an entry from Sluice; the gateway's namespace
// or "*" show it.
func TestKubernetesRegistryExportTo(t *testing.T) {
	k := startKubeEnv(t, "team")
	up := startUpstream(t)
	g := k.gateway(t, nil)
	for _, tc := range []struct{ name, exportTo string }{{"dot", `["."]`}, {"none", `["~"]`}, {"sluice", `[sluice]`}, {"all", `["*"]`}} {
		k.MustKubectl(t, strings.Replace(kubeSE(tc.name, tc.name+".team.example", up.Port), "spec:\n", "spec:\n  exportTo: "+tc.exportTo+"\n", 1), "apply", "-f", "-")
	}
	within(t, 5*time.Second, "exported entries allowed", func() bool {
		a, _ := proxyStatus(g, "http://sluice.team.example/")
		b, _ := proxyStatus(g, "http://all.team.example/")
		return a == 200 && b == 200
	})
	for _, h := range []string{"dot", "none"} {
		if st, reason := proxyStatus(g, "http://"+h+".team.example/"); st != 403 || reason != "undeclared_destination" {
			t.Errorf("%s: not exported to sluice, yet %d %s", h, st, reason)
		}
	}
}
