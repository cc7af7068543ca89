package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kubetest"
)

// kubeEnv is a real control plane with Istio's CRDs and the shipped
// manifests applied (deploy/kubernetes/overlays/single: the namespace,
// the ServiceAccount and its RBAC), and a kubeconfig that acts as that
// ServiceAccount, so that a gateway runs with exactly the rights shipped.
type kubeEnv struct {
	*kubetest.Cluster
	// SAKubeconfig acts as system:serviceaccount:sluice:sluice.
	SAKubeconfig string
}

func startKubeEnv(t *testing.T, namespaces ...string) *kubeEnv {
	t.Helper()
	c := kubetest.Start(t)
	c.InstallIstioCRDs(t)
	c.MustKubectl(t, "", "apply", "--server-side", "-k", filepath.Join(repoRoot(t), "deploy/kubernetes/overlays/single"))
	for _, ns := range namespaces {
		c.MustKubectl(t, "", "create", "namespace", ns)
	}
	return &kubeEnv{Cluster: c, SAKubeconfig: c.KubeconfigFor(t, "sluice", "sluice")}
}

// gateway starts sluice serve reading the cluster as the ServiceAccount,
// in gateway namespace sluice, with extra files.
func (k *kubeEnv) gateway(t *testing.T, files map[string]string) *Gateway {
	t.Helper()
	return StartGateway(t, Options{Files: files, Config: fmt.Sprintf(
		"registry:\n  kubernetes: {enabled: true, kubeconfig: %s, gateway_namespace: sluice}\n", k.SAKubeconfig)})
}

// proxyStatus sends GET target through the gateway's proxy listener and
// returns the status and Sluice-Reason (0 and the error on failure).
func proxyStatus(g *Gateway, target string) (int, string) {
	proxy, _ := url.Parse("http://" + g.Proxy)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxy), DisableKeepAlives: true}}
	resp, err := c.Get(target)
	if err != nil {
		return 0, err.Error()
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Sluice-Reason")
}

// within polls cond every 20 ms for up to limit and returns how long it
// took, failing the test when it never held.
func within(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < limit {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s", what, limit)
	return 0
}
