package kubetest

import (
	"strings"
	"testing"
)

// The real control plane starts, Istio's real CRDs install, and the
// server itself validates a ServiceEntry: a good one is stored in every
// served version, a bad one is refused by the CRD's schema.
func TestClusterServesIstioCRDs(t *testing.T) {
	c := Start(t)
	c.InstallIstioCRDs(t)
	c.MustKubectl(t, `apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata: {name: httpbin, namespace: default}
spec:
  hosts: [httpbin.org]
  resolution: DNS
  ports: [{number: 443, name: https, protocol: TLS}]
`, "apply", "-f", "-")
	for _, v := range []string{"v1", "v1beta1", "v1alpha3"} {
		out := c.MustKubectl(t, "", "get", "serviceentries."+v+".networking.istio.io", "httpbin", "-o", "jsonpath={.apiVersion} {.spec.hosts[0]}")
		if want := "networking.istio.io/" + v + " httpbin.org"; out != want {
			t.Errorf("%s: got %q, want %q", v, out, want)
		}
	}
	out, err := c.Kubectl(t.Context(), `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: bad, namespace: default}
spec:
  hosts: [bad.example]
  ports: [{number: 99999, name: http, protocol: HTTP}]
`, "apply", "-f", "-")
	if err == nil || !strings.Contains(out, "65535") {
		t.Errorf("a port over 65535 was not refused by the server: %v\n%s", err, out)
	}
}
