package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry/kube"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// scaleEntries is how many ServiceEntries the scale test puts in the
// server (issue 15: 5,000 must sync in under 10 s and 200 MB resident).
const scaleEntries = 5000

// With 5,000 ServiceEntries in the server, a gateway syncs and is ready
// in under 10 s and stays under 200 MB resident (peak, VmHWM); the
// figures are logged.
func TestKubernetesRegistryScale(t *testing.T) {
	k := startKubeEnv(t)
	k.MustKubectl(t, "", "create", "namespace", "fleet")
	rc, err := kube.RestConfig(k.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	rc.QPS, rc.Burst = 1000, 1000
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	ses := dyn.Resource(schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "serviceentries"}).Namespace("fleet")
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, scaleEntries)
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				ports := []any{map[string]any{"number": int64(443), "name": "https", "protocol": "TLS"}}
				if i%2 == 0 {
					ports = append(ports, map[string]any{"number": int64(80), "name": "http", "protocol": "HTTP", "targetPort": int64(443)})
				}
				obj := &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
					"metadata": map[string]any{"name": fmt.Sprintf("svc-%05d", i), "namespace": "fleet",
						"labels": map[string]any{"team": fmt.Sprintf("team-%d", i%50)}},
					"spec": map[string]any{"hosts": []any{fmt.Sprintf("api-%05d.fleet.example", i)}, "resolution": "DNS",
						"location": "MESH_EXTERNAL", "ports": ports},
				}}
				if _, err := ses.Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range scaleEntries {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("creating ServiceEntries: %v", err)
	}
	t.Logf("created %d ServiceEntries in %s", scaleEntries, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	g := k.gateway(t, nil)
	ready := time.Since(start)
	_, body := g.AdminGet("/v1/registry")
	if !regexp.MustCompile(`"objects":\s*\{[^}]*"ServiceEntry":\s*` + strconv.Itoa(scaleEntries)).Match(body) {
		t.Fatalf("not every ServiceEntry is in the registry:\n%.2000s", body)
	}
	if st, reason := proxyStatus(g, "http://api-04999.fleet.example:443/"); reason == "undeclared_destination" {
		t.Fatalf("the last entry is not declared: %d %s", st, reason)
	}
	sync := regexp.MustCompile(`first sync done.*?duration=(\S+)`).FindStringSubmatch(g.Logs())
	rss, hwm := procMemory(t, g.cmd.Process.Pid)
	t.Logf("5,000 ServiceEntries: process start to ready %s (first sync %v); resident %d MB now, %d MB peak (VmHWM)",
		ready.Round(time.Millisecond), sync, rss>>20, hwm>>20)
	if ready > 10*time.Second {
		t.Errorf("ready after %s, want under 10 s", ready)
	}
	if hwm > 200<<20 {
		t.Errorf("peak resident %d MB, want under 200 MB", hwm>>20)
	}
}

// procMemory reads VmRSS and VmHWM (peak) of a process, in bytes.
func procMemory(t *testing.T, pid int) (rss, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	get := func(key string) int64 {
		m := regexp.MustCompile(key + `:\s+(\d+) kB`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("no %s in /proc/%d/status", key, pid)
		}
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		return n << 10
	}
	return get("VmRSS"), get("VmHWM")
}
