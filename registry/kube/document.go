package kube

import (
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/registry"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// documentFile names an object in findings and on /v1/registry with its
// namespace, kind, name and resourceVersion, e.g.
// "kubernetes:payments/serviceentry/stripe?resourceVersion=42".
func documentFile(obj *unstructured.Unstructured) string {
	return fmt.Sprintf("kubernetes:%s/%s/%s?resourceVersion=%s", obj.GetNamespace(), strings.ToLower(obj.GetKind()), obj.GetName(), obj.GetResourceVersion())
}

// objectKey identifies an object across its versions.
func objectKey(obj *unstructured.Unstructured) string {
	return obj.GetKind() + " " + obj.GetNamespace() + "/" + obj.GetName()
}

// toDocument turns an object into the YAML the registry parses; sorted
// keys, as `kubectl get -o yaml` writes them, so that the lines of a
// finding match that output.
func toDocument(obj *unstructured.Unstructured) (registry.Document, error) {
	data, err := yaml.Marshal(obj.Object)
	if err != nil {
		return registry.Document{}, fmt.Errorf("%s: %w", documentFile(obj), err)
	}
	return registry.Document{Key: objectKey(obj), File: documentFile(obj), Data: data}, nil
}
