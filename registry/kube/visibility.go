package kube

import "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

// visible applies Istio's exportTo to the gateway: a resource in namespace
// ns is seen by a proxy in gatewayNS when exportTo is empty (every
// namespace), holds "*", names gatewayNS, or holds "." and ns is
// gatewayNS. "~" (ServiceEntries: the service's own proxies only) is seen
// by no gateway.
func visible(exportTo []string, ns, gatewayNS string) bool {
	if len(exportTo) == 0 {
		return true
	}
	for _, e := range exportTo {
		switch {
		case e == "*", e == gatewayNS, e == "." && ns == gatewayNS:
			return true
		}
	}
	return false
}

// exportTo reads spec.exportTo; a malformed value reads as empty and is
// then reported by validation.
func exportTo(obj *unstructured.Unstructured) []string {
	v, _, _ := unstructured.NestedStringSlice(obj.Object, "spec", "exportTo")
	return v
}
