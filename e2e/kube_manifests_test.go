package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The shipped manifests are what a real API server accepts: the base,
// both overlays, the workload-namespace policy and deploy/istio apply
// server-side (with Istio's real CRDs); the server refuses an invalid
// edit of them; and the ServiceAccount they create can do exactly what
// registry.kubernetes needs — and cannot read another namespace's
// Secrets.
func TestKubernetesManifestsApply(t *testing.T) {
	k := startKubeEnv(t, "payments") // applies overlays/single
	root := repoRoot(t)
	for _, dir := range []string{"deploy/kubernetes/base", "deploy/kubernetes/overlays/replicas", "deploy/kubernetes/overlays/single", "deploy/istio"} {
		out := k.MustKubectl(t, "", "apply", "--server-side", "-k", filepath.Join(root, dir))
		t.Logf("%s:\n%s", dir, strings.TrimSpace(out))
	}
	k.MustKubectl(t, "", "apply", "--server-side", "-n", "payments", "-k", filepath.Join(root, "deploy/kubernetes/workload-namespace"))
	if out := k.MustKubectl(t, "", "get", "networkpolicy", "-n", "payments", "egress-through-sluice", "-o", "name"); !strings.Contains(out, "egress-through-sluice") {
		t.Errorf("workload policy not in payments: %s", out)
	}
	if out := k.MustKubectl(t, "", "get", "gateway.networking.istio.io,virtualservice,serviceentry,destinationrule", "-n", "sluice", "-o", "name"); strings.Count(out, "\n") != 5 {
		t.Errorf("deploy/istio objects:\n%s", out)
	}

	// Invalid edits of shipped objects are refused by the server: a
	// Service port out of range, and a ServiceEntry port out of range
	// (the Istio CRD's schema).
	rendered := kustomizeBuild(t, filepath.Join(root, "deploy/kubernetes/overlays/single"))
	bad := strings.Replace(rendered, "port: 3128", "port: 70000", 1)
	if out, err := k.Kubectl(context.Background(), bad, "apply", "--server-side", "-f", "-"); err == nil || !strings.Contains(out, "70000") {
		t.Errorf("an invalid Service port was accepted: %v\n%s", err, out)
	}
	var se string
	for _, d := range strings.Split(kustomizeBuild(t, filepath.Join(root, "deploy/istio")), "\n---\n") {
		if strings.Contains(d, "kind: ServiceEntry") {
			se = d
		}
	}
	bad = strings.Replace(se, "number: 443", "number: 99999", 1)
	if out, err := k.Kubectl(context.Background(), bad, "apply", "--server-side", "-f", "-"); err == nil || !strings.Contains(out, "65535") {
		t.Errorf("an invalid ServiceEntry port was accepted: %v\n%s", err, out)
	}

	// What the ServiceAccount may do (kubectl auth can-i, as the
	// ServiceAccount itself).
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "secrets", "-n", "kube-system"}, "no"},
		{[]string{"get", "secrets", "-n", "payments"}, "no"},
		{[]string{"get", "secrets", "-n", "sluice"}, "yes"},
		{[]string{"watch", "secrets", "-n", "sluice"}, "yes"},
		{[]string{"list", "secrets", "-n", "sluice"}, "no"},
		{[]string{"list", "serviceentries.networking.istio.io", "--all-namespaces"}, "yes"},
		{[]string{"watch", "destinationrules.networking.istio.io", "-n", "payments"}, "yes"},
		{[]string{"watch", "virtualservices.networking.istio.io", "-n", "payments"}, "yes"},
		{[]string{"list", "gateways.networking.istio.io", "-n", "payments"}, "yes"},
		{[]string{"create", "serviceentries.networking.istio.io", "-n", "payments"}, "no"},
		{[]string{"create", "events", "-n", "payments"}, "yes"},
		{[]string{"list", "pods", "-n", "payments"}, "no"},
	} {
		out, _ := k.KubectlAs(context.Background(), k.SAKubeconfig, "", append([]string{"auth", "can-i"}, tc.args...)...)
		if got := strings.TrimSpace(out); got != tc.want {
			t.Errorf("can-i %s: %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}

// kustomizeBuild renders a kustomization with kubectl's kustomize.
func kustomizeBuild(t *testing.T, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "kubectl", "kustomize", dir).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v", dir, err)
	}
	return string(out)
}
