// Package kube is the registry's Kubernetes source (registry.kubernetes):
// it watches Istio's ServiceEntries, DestinationRules, VirtualServices and
// Gateways through informers, in whichever of networking.istio.io v1,
// v1beta1 and v1alpha3 the server serves, and hands them to the registry
// as documents (registry.ObjectSource), one object at a time: an invalid
// object is skipped, logged and reported as an Event on it, while the rest
// apply. DestinationRule credentialName is read from Secrets of the
// gateway's namespace and rotated without a restart.
package kube

import (
	"fmt"
	"os"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// inClusterNamespaceFile is where a pod finds its own namespace.
const inClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// RestConfig is the client config of kubeconfig, or the in-cluster config
// (the pod's ServiceAccount) when kubeconfig is "".
func RestConfig(kubeconfig string) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig == "" {
		cfg, err = rest.InClusterConfig()
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	if err != nil {
		return nil, fmt.Errorf("registry.kubernetes: %w", err)
	}
	cfg.UserAgent = "sluice"
	// Thousands of objects are listed at start; the client's default
	// 5 requests/s would make the Secrets and Events wait behind them.
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}

// GatewayNamespace is the namespace the gateway runs in: configured, else
// $POD_NAMESPACE, else the in-cluster ServiceAccount's, else "default".
func GatewayNamespace(configured string) string {
	if configured != "" {
		return configured
	}
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile(inClusterNamespaceFile); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns
		}
	}
	return "default"
}
