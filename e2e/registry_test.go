package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const seAPI = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: shop}
spec:
  hosts: [api.example.com]
  resolution: DNS
  ports:
  - {number: 443, name: https, protocol: HTTPS}
`

// The admin API lists the declared destinations and the last reload.
func TestRegistryAPIListsDestinations(t *testing.T) {
	g := StartGateway(t, Options{Files: map[string]string{"registry/api.yaml": seAPI}})
	code, body := g.AdminGet("/v1/registry")
	if code != 200 {
		t.Fatalf("GET /v1/registry = %d %s", code, body)
	}
	var v struct {
		Generation   uint64 `json:"generation"`
		Destinations []struct {
			ServiceEntry string   `json:"service_entry"`
			Hosts        []string `json:"hosts"`
		} `json:"destinations"`
		LastReload struct {
			OK bool `json:"ok"`
		} `json:"last_reload"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if v.Generation != 1 || !v.LastReload.OK || len(v.Destinations) != 1 || v.Destinations[0].ServiceEntry != "shop/api" {
		t.Fatalf("unexpected registry view: %s", body)
	}
}

// valid → invalid (old set still answers) → valid (new set answers),
// through the real file watcher, then through SIGHUP.
func TestRegistryReloadKeepsLastGood(t *testing.T) {
	g := StartGateway(t, Options{Files: map[string]string{"registry/api.yaml": seAPI}})
	hosts := func() string {
		_, body := g.AdminGet("/v1/registry")
		return string(body)
	}
	g.WriteRegistry("api.yaml", strings.Replace(seAPI, "hosts: [api.example.com]", "hosts: ['*']", 1))
	Eventually(t, 10*time.Second, "a rejected reload", func() bool {
		return strings.Contains(hosts(), `"ok": false`) && strings.Contains(hosts(), "invalid host *")
	})
	if !strings.Contains(hosts(), `"api.example.com"`) {
		t.Fatalf("the last good set is gone after an invalid reload:\n%s", hosts())
	}
	if !strings.Contains(g.Logs(), "registry reload rejected") {
		t.Errorf("the rejected reload was not logged")
	}
	g.WriteRegistry("api.yaml", strings.Replace(seAPI, "api.example.com", "api2.example.com", 1))
	Eventually(t, 10*time.Second, "the new set", func() bool {
		h := hosts()
		return strings.Contains(h, `"api2.example.com"`) && strings.Contains(h, `"generation": 2`)
	})
	// SIGHUP reloads too (generation 3, same content).
	g.Reload()
	Eventually(t, 10*time.Second, "a SIGHUP reload", func() bool { return strings.Contains(hosts(), `"generation": 3`) })
}

// `sluice validate` on a broken file names file, document, resource and
// field for each error and exits 1.
func TestValidateReportsEveryError(t *testing.T) {
	dir := t.TempDir()
	WriteFile(t, dir+"/registry/bad.yaml", `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ok, namespace: a}
spec:
  hosts: [ok.example.com]
  ports: [{number: 443, name: https, protocol: HTTPS}]
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: broken, namespace: shop}
spec:
  hosts: ["*"]
  resolution: NONE
  endpoints: [{address: 10.0.0.1}]
  ports:
  - {number: 80, name: http, protocol: HTTPX}
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: mtls, namespace: shop}
spec:
  host: ok.example.com
  trafficPolicy:
    tls: {mode: MUTUAL}
`)
	WriteFile(t, dir+"/sluice.yaml", "registry: {paths: [registry]}\npolicy: {paths: []}\n")
	out, code := RunSluice(t, dir, "validate", "-c", "sluice.yaml")
	if code != 1 {
		t.Fatalf("exit code %d, want 1; output:\n%s", code, out)
	}
	for _, want := range []string{
		"registry/bad.yaml:12:11: error: doc 1: ServiceEntry shop/broken: spec.hosts[0]: invalid host *",
		"doc 1: ServiceEntry shop/broken: spec.endpoints: no endpoints should be provided for resolution type none",
		"doc 1: ServiceEntry shop/broken: spec.ports[0].protocol: unsupported protocol: HTTPX",
		"doc 2: DestinationRule shop/mtls: spec.trafficPolicy.tls.clientCertificate: client certificate required for mutual tls",
		"doc 2: DestinationRule shop/mtls: spec.trafficPolicy.tls.privateKey: private key required for mutual tls",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

// `sluice validate` on the shipped examples succeeds with a summary.
func TestValidateExamples(t *testing.T) {
	out, code := RunSluice(t, repoRoot(t), "validate")
	if code != 0 || !contains(out, "registry: 5 ServiceEntries", "demo/hello", "TLS origination routes") {
		t.Fatalf("validate of the examples: exit %d\n%s", code, out)
	}
}

// A config with an unknown key is refused with its line.
func TestServeRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	WriteFile(t, dir+"/sluice.yaml", "registry:\n  paths: [x]\n  mdoe: enforce\n")
	out, code := RunSluice(t, dir, "validate", "-c", "sluice.yaml")
	if code == 0 || !strings.Contains(out, `sluice.yaml:3:3: registry.mdoe: unknown key "mdoe"`) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
