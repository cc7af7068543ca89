package kube

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sluicehq/sluice/registry"
)

// compact is what the informers keep of an object: the metadata its key,
// its Event and exportTo need, and its YAML document for the registry.
// The decoded object (a tree of maps several times the size of its YAML)
// is dropped as it enters the cache: with 5,000 ServiceEntries that
// halves the gateway's heap. A compact is never changed once made.
type compact struct {
	metav1.TypeMeta
	metav1.ObjectMeta
	ExportTo []string
	Doc      registry.Document
	Err      error        // the object could not be turned into YAML
	Gateway  *gatewayRule // an Istio Gateway's selector and servers
}

// DeepCopyObject returns c itself: a compact is immutable.
func (c *compact) DeepCopyObject() runtime.Object { return c }

// toCompact is the informers' transform.
func toCompact(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil // a tombstone or an object already transformed
	}
	u.SetManagedFields(nil)
	if a := u.GetAnnotations(); a != nil {
		if _, ok := a["kubectl.kubernetes.io/last-applied-configuration"]; ok {
			delete(a, "kubectl.kubernetes.io/last-applied-configuration") // a second copy of the object
			u.SetAnnotations(a)
		}
	}
	c := &compact{
		TypeMeta:   metav1.TypeMeta{APIVersion: u.GetAPIVersion(), Kind: u.GetKind()},
		ObjectMeta: metav1.ObjectMeta{Name: u.GetName(), Namespace: u.GetNamespace(), UID: u.GetUID(), ResourceVersion: u.GetResourceVersion()},
		ExportTo:   exportTo(u),
	}
	if c.Kind == "Gateway" {
		c.Gateway = readGateway(u)
	}
	c.Doc, c.Err = toDocument(u)
	return c, nil
}

// ref is what an Event on the object needs.
func (c *compact) ref() objectRef {
	return objectRef{APIVersion: c.APIVersion, Kind: c.Kind, Namespace: c.Namespace, Name: c.Name, ResourceVersion: c.ResourceVersion, UID: c.UID}
}
