package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The Kubernetes manifests ship a config, registry and policy that
// `sluice validate` accepts (paths remapped from the pod's mounts).
func TestKubernetesManifestValidates(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy/kubernetes/sluice.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	mounts := map[string]string{"sluice-config": "config", "sluice-registry": "registry", "sluice-policy": "policy", "sluice-admin-token": "admin"}
	for {
		var obj struct {
			Kind     string `yaml:"kind"`
			Metadata struct{ Name string }
			Data     map[string]string `yaml:"data"`
			String   map[string]string `yaml:"stringData"`
		}
		obj.Data = map[string]string{}
		if err := dec.Decode(&obj); err != nil {
			break
		}
		sub, ok := mounts[obj.Metadata.Name]
		if (obj.Kind != "ConfigMap" && obj.Kind != "Secret") || !ok {
			continue
		}
		for name, content := range obj.String {
			obj.Data[name] = content
		}
		for name, content := range obj.Data {
			content = strings.ReplaceAll(content, "/etc/sluice/", dir+"/")
			content = strings.ReplaceAll(content, "/var/lib/sluice/", dir+"/")
			WriteFile(t, filepath.Join(dir, sub, name), content)
		}
	}
	out, code := RunSluice(t, dir, "validate", "-c", filepath.Join(dir, "config", "sluice.yaml"))
	if code != 0 {
		t.Fatalf("validate: exit %d\n%s", code, out)
	}
}
