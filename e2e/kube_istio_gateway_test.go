package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Istio's egress-gateway task, applied with kubectl as deploy/istio ships
// it (Gateway sluice/sluice selecting Sluice's pods, the two-hop
// VirtualService, ServiceEntry and DestinationRule for the payment API),
// is obeyed by a gateway whose pod labels the Gateway selects: the
// payment API is let out on the Gateway's ports (TLS originated on 80 as
// the DestinationRule says, passed through on 443), and a host that is
// declared by a ServiceEntry but not listed by the Gateway is refused,
// until the Gateway lists it. The ServiceEntry is the shipped one with
// its DNS resolution swapped for a STATIC endpoint on 127.0.0.1 (no
// network but loopback), and the DestinationRule trusts the test's CA.
func TestIstioEgressGatewayExample(t *testing.T) {
	k := startKubeEnv(t, "payments")
	ca := newCA(t, "payments-ca")
	caPath := ca.write(t, t.TempDir(), "ca")
	api := startTLSUpstream(t, ca.issue("api", false, "api.payments.example", "other.payments.example"), nil)

	k.MustKubectl(t, "", "apply", "--server-side", "-k", filepath.Join(repoRoot(t), "deploy/istio"))
	k.MustKubectl(t, fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: payments-api, namespace: sluice}
spec:
  hosts: [api.payments.example]
  location: MESH_EXTERNAL
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
  ports:
    - {number: 80, name: http, protocol: HTTP, targetPort: %[1]d}
    - {number: 443, name: tls, protocol: TLS, targetPort: %[1]d}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: payments-api, namespace: sluice}
spec:
  host: api.payments.example
  trafficPolicy:
    portLevelSettings:
      - port: {number: 80}
        tls: {mode: SIMPLE, caCertificates: %[2]s}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: other, namespace: payments}
spec:
  hosts: [other.payments.example]
  location: MESH_EXTERNAL
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
  ports: [{number: 443, name: tls, protocol: TLS, targetPort: %[1]d}]
`, api.Port, caPath), "apply", "--server-side", "--force-conflicts", "-f", "-")

	g := StartGateway(t, Options{Config: fmt.Sprintf(`registry:
  kubernetes:
    enabled: true
    kubeconfig: %s
    gateway_namespace: sluice
    pod_labels: {app.kubernetes.io/name: sluice, app.kubernetes.io/part-of: sluice}
`, k.SAKubeconfig)})

	// Port 80: plain HTTP in, TLS out, as the DestinationRule says.
	status, body, serr, _ := curl(t, "-x", "http://"+g.Proxy, "http://api.payments.example/charge")
	if status != 200 || !strings.Contains(body, `"tls":true`) || !strings.Contains(body, `"host":"api.payments.example"`) {
		t.Fatalf("api.payments.example:80 through the Gateway: %d %s %s", status, body, serr)
	}
	// Port 443: TLS passed through (the workload verifies the API's
	// certificate itself).
	status, body, serr, _ = curl(t, "-x", "http://"+g.Proxy, "--cacert", caPath, "https://api.payments.example/charge")
	if status != 200 || !strings.Contains(body, `"tls":true`) {
		t.Fatalf("api.payments.example:443 through the Gateway: %d %s %s", status, body, serr)
	}
	// other.payments.example has a ServiceEntry, but the Gateway does not
	// list it: refused, by CONNECT and by absolute URI alike.
	_, head, _, _ := curl(t, "-x", "http://"+g.Proxy, "--cacert", caPath, "-D", "-", "https://other.payments.example/")
	if !strings.Contains(head, " 403") || !strings.Contains(head, "Sluice-Reason: undeclared_destination") {
		t.Errorf("a host the Gateway does not list was let out (CONNECT):\n%s", head)
	}
	if st, reason := proxyStatus(g, "http://other.payments.example:443/"); st != 403 || reason != "undeclared_destination" {
		t.Errorf("a host the Gateway does not list: %d %s", st, reason)
	}
	// Neither is a port of the payment API that no server lists.
	if st, reason := proxyStatus(g, "http://api.payments.example:8443/"); st != 403 {
		t.Errorf("a port the Gateway does not list: %d %s", st, reason)
	}
	_, reg := g.AdminGet("/v1/registry")
	if !strings.Contains(string(reg), `"sluice/sluice"`) {
		t.Errorf("/v1/registry does not name the Gateway that narrows it:\n%s", reg)
	}

	// The Gateway lists the host on 443: let out within 2 s.
	k.MustKubectl(t, `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: sluice, namespace: sluice}
spec:
  selector: {app.kubernetes.io/name: sluice}
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: [api.payments.example]
    - port: {number: 443, name: tls, protocol: TLS}
      hosts: [api.payments.example, payments/other.payments.example]
      tls: {mode: PASSTHROUGH}
`, "apply", "--server-side", "--force-conflicts", "-f", "-")
	took := within(t, 2*time.Second, "other.payments.example let out once the Gateway lists it", func() bool {
		st, _, _, _ := curl(t, "-x", "http://"+g.Proxy, "--cacert", caPath, "https://other.payments.example/")
		return st == 200
	})
	t.Logf("let out %s after kubectl apply of the Gateway", took.Round(time.Millisecond))

	// The refusals are on record as refusals.
	waitRecord(t, g, map[string][]string{"host": {"other.payments.example"}, "decision": {"deny"}}, "refusal recorded", func(r record) bool {
		return r.str("reason") == "undeclared_destination"
	})
}
