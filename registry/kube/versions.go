package kube

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// Group is Istio's networking API group.
const Group = "networking.istio.io"

// versions are the API versions Sluice reads, preferred first; they share
// one schema, and the server converts objects between them, so watching
// the first one served sees objects created in any of them.
var versions = []string{"v1", "v1beta1", "v1alpha3"}

// kind is one resource Sluice watches.
type kind struct {
	Kind     string // ServiceEntry
	Resource string // serviceentries
	Required bool   // without it the source cannot work
}

// kinds are the resources watched. ServiceEntries and DestinationRules
// are what the registry declares; VirtualServices and Gateways are
// watched and listed (their CRDs may be absent from a cluster).
var kinds = []kind{
	{"ServiceEntry", "serviceentries", true},
	{"DestinationRule", "destinationrules", true},
	{"VirtualService", "virtualservices", false},
	{"Gateway", "gateways", false},
}

// served asks the server which versions of Group it serves and returns,
// for each kind it serves, the resource in the first of versions that has
// it. A required kind that is not served is an error naming the CRD.
func served(dc discovery.DiscoveryInterface) (map[string]schema.GroupVersionResource, error) {
	have := map[string]map[string]bool{} // version → resource → served
	for _, v := range versions {
		list, err := dc.ServerResourcesForGroupVersion(Group + "/" + v)
		if err != nil {
			continue // not served (404), or the group is absent
		}
		have[v] = map[string]bool{}
		for _, r := range list.APIResources {
			have[v][r.Name] = true
		}
	}
	out := map[string]schema.GroupVersionResource{}
	for _, k := range kinds {
		for _, v := range versions {
			if have[v][k.Resource] {
				out[k.Kind] = schema.GroupVersionResource{Group: Group, Version: v, Resource: k.Resource}
				break
			}
		}
		if _, ok := out[k.Kind]; !ok && k.Required {
			return nil, fmt.Errorf("registry.kubernetes: the server serves no %s.%s in %v: install Istio's CRDs", k.Resource, Group, versions)
		}
	}
	return out, nil
}
