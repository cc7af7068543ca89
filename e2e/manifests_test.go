package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// manifestDirs are the kustomizations shipped, relative to deploy/.
var manifestDirs = []string{
	"kubernetes/base", "kubernetes/overlays/single", "kubernetes/overlays/replicas",
	"kubernetes/workload-namespace", "istio",
}

// Every shipped kustomization builds with the kustomize library; every
// object decodes strictly (unknown or duplicate fields are errors) into
// the Kubernetes API types, or, for Istio's kinds, into istio.io/api's;
// the Deployment's probes are admin paths a real gateway answers without
// the token, its container ports are its config's listeners, its Service
// targets ports that exist; and the config, registry and policy it
// mounts pass `sluice validate` and `sluice policy test`.
func TestKubernetesManifests(t *testing.T) {
	root := repoRoot(t)
	probePaths := realProbePaths(t)
	for _, dir := range manifestDirs {
		t.Run(dir, func(t *testing.T) {
			objs := kustomizeObjects(t, filepath.Join(root, "deploy", dir))
			if len(objs) == 0 {
				t.Fatal("no objects")
			}
			var deploy *appsv1.Deployment
			var services []*corev1.Service
			maps := map[string]*corev1.ConfigMap{}
			for _, o := range objs {
				switch v := decodeStrict(t, o).(type) {
				case *appsv1.Deployment:
					deploy = v
				case *corev1.Service:
					services = append(services, v)
				case *corev1.ConfigMap:
					maps[v.Name] = v
				}
			}
			if deploy == nil {
				return
			}
			cfg, mounted := mountedFiles(t, deploy, maps)
			checkContainer(t, deploy, cfg, probePaths)
			checkServices(t, deploy, services)
			validateMounted(t, cfg, mounted)
		})
	}
}

// kustomizeObjects builds dir with the kustomize library and returns each
// object as YAML.
func kustomizeObjects(t *testing.T, dir string) [][]byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var out [][]byte
	for _, r := range m.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// strictDecoder decodes the Kubernetes kinds client-go knows, refusing
// unknown and duplicate fields.
var strictDecoder = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// istioSpecs are the Istio kinds shipped and the message of their spec.
var istioSpecs = map[string]func() proto.Message{
	"ServiceEntry":    func() proto.Message { return &networking.ServiceEntry{} },
	"DestinationRule": func() proto.Message { return &networking.DestinationRule{} },
	"VirtualService":  func() proto.Message { return &networking.VirtualService{} },
	"Gateway":         func() proto.Message { return &networking.Gateway{} },
}

// decodeStrict decodes one object strictly and returns it (nil for an
// Istio kind, checked against istio.io/api).
func decodeStrict(t *testing.T, doc []byte) runtime.Object {
	t.Helper()
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name, Namespace string
		} `json:"metadata"`
		Spec json.RawMessage `json:"spec"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	id := head.Kind + " " + head.Metadata.Namespace + "/" + head.Metadata.Name
	if strings.HasPrefix(head.APIVersion, "networking.istio.io/") {
		mk, ok := istioSpecs[head.Kind]
		if !ok {
			t.Errorf("%s: an Istio kind the test does not know", id)
			return nil
		}
		if err := (protojson.UnmarshalOptions{}).Unmarshal(head.Spec, mk()); err != nil {
			t.Errorf("%s: spec is not a valid %s: %v", id, head.Kind, err)
		}
		return nil
	}
	obj, _, err := strictDecoder.Decode(doc, nil, nil)
	if err != nil {
		t.Errorf("%s: %v", id, err)
	}
	return obj
}

// mountedFiles lays the ConfigMaps the Deployment mounts out under a temp
// dir at their mount paths, with a random admin token where the token
// Secret (never shipped) goes, and returns the config they hold and the
// dir.
func mountedFiles(t *testing.T, d *appsv1.Deployment, maps map[string]*corev1.ConfigMap) (*config.Config, string) {
	t.Helper()
	dir := t.TempDir()
	c := d.Spec.Template.Spec.Containers[0]
	volumes := map[string]corev1.Volume{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		volumes[v.Name] = v
	}
	remap := func(s string) string {
		return strings.NewReplacer("/etc/sluice/", dir+"/etc/sluice/", "/var/lib/sluice/", dir+"/var/lib/sluice/").Replace(s)
	}
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			t.Errorf("volumeMount %s: no such volume", m.Name)
			continue
		}
		switch {
		case v.ConfigMap != nil:
			cm, ok := maps[v.ConfigMap.Name]
			if !ok {
				t.Errorf("volume %s: ConfigMap %s is not in the manifests", v.Name, v.ConfigMap.Name)
				continue
			}
			for name, content := range cm.Data {
				WriteFile(t, filepath.Join(dir, m.MountPath, name), remap(content))
			}
		case v.Secret != nil && v.Secret.SecretName == "sluice-admin-token":
			tok := make([]byte, 24)
			_, _ = rand.Read(tok)
			WriteFile(t, filepath.Join(dir, m.MountPath, "token"), hex.EncodeToString(tok))
		}
	}
	if len(c.Args) != 3 || c.Args[0] != "serve" || c.Args[1] != "-c" {
		t.Fatalf("container args %q, want serve -c <config>", c.Args)
	}
	cfgPath := filepath.Join(dir, c.Args[2])
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("the mounted config: %v", err)
	}
	return cfg, dir
}

// checkContainer holds the container's ports to the config's listeners
// and its probes to the admin paths a gateway really serves.
func checkContainer(t *testing.T, d *appsv1.Deployment, cfg *config.Config, probePaths map[string]bool) {
	t.Helper()
	c := d.Spec.Template.Spec.Containers[0]
	ports := map[string]corev1.ContainerPort{}
	for _, p := range c.Ports {
		ports[p.Name] = p
	}
	want := []struct {
		name, addr string
		proto      corev1.Protocol
	}{
		{"proxy", cfg.Listeners.Proxy, corev1.ProtocolTCP}, {"http", cfg.Listeners.HTTP, corev1.ProtocolTCP},
		{"tls", cfg.Listeners.TLS, corev1.ProtocolTCP}, {"dns-udp", cfg.Listeners.DNS, corev1.ProtocolUDP},
		{"dns-tcp", cfg.Listeners.DNS, corev1.ProtocolTCP}, {"admin", cfg.Listeners.Admin, corev1.ProtocolTCP},
	}
	for _, w := range want {
		host, port, err := net.SplitHostPort(w.addr)
		if err != nil {
			t.Errorf("listener %s %q: %v", w.name, w.addr, err)
			continue
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			t.Errorf("listener %s is %s: a pod must listen on all addresses", w.name, w.addr)
		}
		n, _ := strconv.Atoi(port)
		p, ok := ports[w.name]
		if !ok || int(p.ContainerPort) != n || p.Protocol != w.proto {
			t.Errorf("containerPort %s: %+v, want %d/%s (listeners in the config)", w.name, p, n, w.proto)
		}
	}
	probes := map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe}
	for kind, p := range probes {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s probe: missing or not httpGet", kind)
			continue
		}
		if !probePaths[p.HTTPGet.Path] {
			t.Errorf("%s probe path %s: not an admin path a gateway answers without the token", kind, p.HTTPGet.Path)
		}
		if p.HTTPGet.Port.String() != "admin" {
			t.Errorf("%s probe port %s, want the admin port", kind, p.HTTPGet.Port.String())
		}
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe %s, want /readyz", c.ReadinessProbe.HTTPGet.Path)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container securityContext not hardened: %+v", sc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources: %+v", c.Resources)
	}
	if len(d.Spec.Template.Spec.TopologySpreadConstraints) == 0 {
		t.Errorf("no topology spread")
	}
}

// checkServices holds every Service port to a named container port of
// the same protocol.
func checkServices(t *testing.T, d *appsv1.Deployment, services []*corev1.Service) {
	t.Helper()
	ports := map[string]corev1.ContainerPort{}
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		ports[p.Name] = p
	}
	dnsProtos := map[corev1.Protocol]bool{}
	for _, s := range services {
		for _, p := range s.Spec.Ports {
			cp, ok := ports[p.TargetPort.String()]
			if !ok || cp.Protocol != p.Protocol {
				t.Errorf("Service %s port %s targets %s, not a %s container port", s.Name, p.Name, p.TargetPort.String(), p.Protocol)
			}
			if p.Port == 53 {
				dnsProtos[p.Protocol] = true
			}
		}
	}
	if !dnsProtos[corev1.ProtocolUDP] || !dnsProtos[corev1.ProtocolTCP] {
		t.Errorf("DNS is not served over both UDP and TCP on port 53")
	}
}

// validateMounted runs `sluice validate` (offline: the manifests' config
// reads the cluster, which a unit test does not have) on the mounted
// config and `sluice policy test` on the mounted policy.
func validateMounted(t *testing.T, cfg *config.Config, dir string) {
	t.Helper()
	out, code := RunSluice(t, dir, "validate", "--offline", "-c", cfg.File)
	if code != 0 {
		t.Errorf("sluice validate: exit %d\n%s", code, out)
	}
	for _, p := range cfg.Policy.Paths {
		out, code := RunSluice(t, dir, "policy", "test", cfg.Resolve(p))
		if code != 0 {
			t.Errorf("sluice policy test %s: exit %d\n%s", p, code, out)
		}
	}
}

// realProbePaths asks a running gateway, with an admin token set, which
// of the health paths it answers without the token.
func realProbePaths(t *testing.T) map[string]bool {
	t.Helper()
	g := StartGateway(t, Options{Config: "admin: {token: " + fmt.Sprintf("%x", 1<<62) + "}\n"})
	paths := map[string]bool{}
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/v1/registry"} {
		if code, _ := g.AdminGet(p); code == 200 {
			paths[p] = true
		}
	}
	if !paths["/healthz"] || !paths["/readyz"] || paths["/v1/registry"] {
		t.Fatalf("admin paths answered without the token: %v", paths)
	}
	return paths
}
