// Package kubetest runs a real Kubernetes control plane for tests: etcd and
// kube-apiserver on loopback ports in a temp dir, a kubeconfig for it, and
// Istio's real CustomResourceDefinitions from the istio.io/api module.
// The binaries are the ones scripts/realparts.sh builds (kube-apiserver,
// from tools/kube-apiserver) and installs (etcd, Debian's etcd-server);
// kubectl is the one on PATH. Without them a test is skipped with the
// command that provides them, and fails under CI=true, where a test must
// never pass by not running.
package kubetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Binaries are the programs a Cluster runs.
type Binaries struct {
	APIServer, Etcd, Kubectl string
}

// ErrMissing wraps the reason a binary could not be found.
var ErrMissing = errors.New("missing real part")

// FindBinaries locates kube-apiserver ($SLUICE_KUBE_APISERVER_BIN, else
// the one scripts/realparts.sh has cached), etcd ($SLUICE_ETCD_BIN, else
// PATH) and kubectl (PATH). It never builds: a cold kube-apiserver build
// takes minutes, which `scripts/realparts.sh kube` (and .ci/run) do once.
func FindBinaries(ctx context.Context) (Binaries, error) {
	var b Binaries
	var err error
	if b.APIServer, err = fromEnvOrScript(ctx, "SLUICE_KUBE_APISERVER_BIN", "kube-apiserver"); err != nil {
		return b, err
	}
	if b.Etcd, err = fromEnvOrScript(ctx, "SLUICE_ETCD_BIN", "etcd"); err != nil {
		return b, err
	}
	if b.Kubectl, err = exec.LookPath("kubectl"); err != nil {
		return b, fmt.Errorf("%w: kubectl is not on PATH (Debian package kubectl or kubernetes-client)", ErrMissing)
	}
	return b, nil
}

// Require returns the binaries, or ends the test: skipped when one is
// missing, failed under CI=true or on any other error.
func Require(tb testing.TB) Binaries {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := FindBinaries(ctx)
	if err != nil {
		Unavailable(tb, err)
	}
	return b
}

// Unavailable ends a test that cannot have a cluster because of err.
func Unavailable(tb testing.TB, err error) {
	tb.Helper()
	if errors.Is(err, ErrMissing) && os.Getenv("CI") != "true" {
		tb.Skipf("skipping: needs a real kube-apiserver and etcd: %v", err)
	}
	tb.Fatalf("kubetest: %v (CI=true: a missing real component is a failure)", err)
}

// fromEnvOrScript is $env when set, else `scripts/realparts.sh path part`.
func fromEnvOrScript(ctx context.Context, env, part string) (string, error) {
	if p := os.Getenv(env); p != "" {
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%w: %s=%s is not an executable file", ErrMissing, env, p)
		}
		return p, nil
	}
	script := filepath.Join(RepoRoot(), "scripts", "realparts.sh")
	out, err := exec.CommandContext(ctx, "bash", script, "path", part).Output()
	if err != nil {
		return "", fmt.Errorf("%w: %s is not built: run scripts/realparts.sh kube (or set %s)", ErrMissing, part, env)
	}
	return strings.TrimSpace(string(out)), nil
}

// RepoRoot is the repository's top directory, found from this file.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}
