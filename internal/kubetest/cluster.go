package kubetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// AdminToken is the bearer token of the cluster's admin user
// (group system:masters), accepted through --token-auth-file.
const AdminToken = "sluice-test-token"

// Cluster is a running etcd and kube-apiserver on loopback.
type Cluster struct {
	// Dir holds the data, certificates, logs and kubeconfigs.
	Dir string
	// URL is the apiserver's https address.
	URL string
	// Kubeconfig is the admin kubeconfig's path.
	Kubeconfig string

	bins      Binaries
	etcd, api *process
}

// process is a child the cluster started and must stop.
type process struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

// Start runs etcd and kube-apiserver for one test, waits for the
// apiserver's /readyz, and stops both when the test ends (printing the
// tail of their logs when it failed). It skips or fails like Require
// when the binaries are missing.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bins := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := StartWith(ctx, bins, t.TempDir())
	if c != nil {
		t.Cleanup(func() {
			if t.Failed() {
				c.dumpLogs(t)
			}
			c.Stop()
		})
	}
	if err != nil {
		t.Fatalf("kubetest: starting the cluster: %v", err)
	}
	return c
}

// StartWith starts a cluster in dir; the caller must call Stop, also
// when an error is returned with a non-nil Cluster.
func StartWith(ctx context.Context, bins Binaries, dir string) (*Cluster, error) {
	c := &Cluster{Dir: dir, bins: bins}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	c.URL = fmt.Sprintf("https://127.0.0.1:%d", ports[2])
	c.etcd, err = c.spawn("etcd", bins.Etcd,
		"--name", "test", "--data-dir", filepath.Join(dir, "etcd-data"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "test="+peerURL, "--unsafe-no-fsync", "--log-level=warn")
	if err != nil {
		return c, err
	}
	if err := writeServiceAccountKey(dir); err != nil {
		return c, err
	}
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(AdminToken+",admin,admin-uid,system:masters\n"), 0o600); err != nil {
		return c, err
	}
	c.api, err = c.spawn("kube-apiserver", bins.APIServer,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[2]),
		"--cert-dir="+filepath.Join(dir, "certs"), "--token-auth-file="+tokens, "--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16", "--disable-admission-plugins=ServiceAccount",
		"--enable-priority-and-fairness=false")
	if err != nil {
		return c, err
	}
	if err := c.writeKubeconfig(filepath.Join(dir, "kubeconfig"), "", nil); err != nil {
		return c, err
	}
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	return c, c.waitReady(ctx)
}

// spawn starts one child with its output in <dir>/<name>.log.
func (c *Cluster) spawn(name, bin string, args ...string) (*process, error) {
	p := &process{name: name, log: filepath.Join(c.Dir, name+".log"), exited: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test binary
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	return p, nil
}

// waitReady polls /readyz until it answers ok, or a child exits.
func (c *Cluster) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the apiserver's self-signed serving cert
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+AdminToken)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready at %s: %w", c.URL, ctx.Err())
		case <-c.etcd.exited:
			return fmt.Errorf("etcd exited: %s", tail(c.etcd.log, 20))
		case <-c.api.exited:
			return fmt.Errorf("kube-apiserver exited: %s", tail(c.api.log, 20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop stops the apiserver (SIGTERM, SIGKILL after 10 s), then etcd.
func (c *Cluster) Stop() {
	for _, p := range []*process{c.api, c.etcd} {
		if p == nil {
			continue
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
}

// PIDs are the process ids of etcd and kube-apiserver.
func (c *Cluster) PIDs() (etcd, api int) { return c.etcd.cmd.Process.Pid, c.api.cmd.Process.Pid }

func (c *Cluster) dumpLogs(t testing.TB) {
	for _, p := range []*process{c.etcd, c.api} {
		if p != nil {
			t.Logf("--- last lines of %s ---\n%s", p.name, tail(p.log, 40))
		}
	}
}

// tail returns the last n lines of a file.
func tail(file string, n int) string {
	b, _ := os.ReadFile(file)
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// freePorts reserves n distinct free loopback ports and releases them.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// writeKubeconfig writes a kubeconfig for the admin token; with as set
// the client impersonates that user (and groups), so that a client runs
// with exactly that user's RBAC.
func (c *Cluster) writeKubeconfig(path, as string, groups []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: %s\n    insecure-skip-tls-verify: true\n", c.URL)
	fmt.Fprintf(&b, "users:\n- name: test\n  user:\n    token: %s\n", AdminToken)
	if as != "" {
		fmt.Fprintf(&b, "    as: %q\n", as)
		if len(groups) > 0 {
			b.WriteString("    as-groups:\n")
			for _, g := range groups {
				fmt.Fprintf(&b, "    - %q\n", g)
			}
		}
	}
	b.WriteString("contexts:\n- name: test\n  context: {cluster: test, user: test}\ncurrent-context: test\n")
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// KubeconfigFor writes a kubeconfig that acts as the ServiceAccount
// namespace/name (by impersonation, with the groups a ServiceAccount
// token carries), and returns its path.
func (c *Cluster) KubeconfigFor(t testing.TB, namespace, name string) string {
	t.Helper()
	p := filepath.Join(c.Dir, "kubeconfig-"+namespace+"-"+name)
	user := "system:serviceaccount:" + namespace + ":" + name
	if err := c.writeKubeconfig(p, user, []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}); err != nil {
		t.Fatal(err)
	}
	return p
}
