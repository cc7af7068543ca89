package kubetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	// The module whose kubernetes/customresourcedefinitions.gen.yaml is
	// installed; importing it keeps it (and its version) in go.mod.
	_ "istio.io/api/networking/v1"
)

// IstioAPIModule is the module that ships Istio's CRDs.
const IstioAPIModule = "istio.io/api"

// IstioCRDFile returns the path of Istio's generated CRDs in the
// istio.io/api module of go.mod (in the module cache).
func IstioCRDFile(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", IstioAPIModule)
	cmd.Dir = RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", IstioAPIModule, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("%s is not in the module cache: run go mod download", IstioAPIModule)
	}
	p := filepath.Join(dir, "kubernetes", "customresourcedefinitions.gen.yaml")
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

// InstallIstioCRDs applies Istio's real CRDs (server-side: their
// last-applied annotation would be too large for a client-side apply)
// and waits until every one is Established.
func (c *Cluster) InstallIstioCRDs(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	file, err := IstioCRDFile(ctx)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	if out, err := c.Kubectl(ctx, "", "apply", "--server-side", "-f", file); err != nil {
		t.Fatalf("kubectl apply Istio CRDs: %v\n%s", err, out)
	}
	if out, err := c.Kubectl(ctx, "", "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"); err != nil {
		t.Fatalf("waiting for Istio CRDs: %v\n%s", err, out)
	}
}
