package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/registry/kube"
)

// validateSkips collects what a validation load left out of the
// Kubernetes objects; validate reports each as an error.
type validateSkips struct{ skipped []registry.Skipped }

// validateRegistry loads the registry as serve would: the files, and,
// with registry.kubernetes on (and not offline), the API's objects,
// whose own findings name namespace, kind, name and resourceVersion.
// It writes no Events. skipped are the objects serve would skip.
func validateRegistry(ctx context.Context, cfg *config.Config, offline bool, errOut io.Writer) (*registry.Snapshot, registry.Diagnostics, []registry.Skipped, error) {
	opts := registry.BuildOptions{MaxBytes: cfg.Limits.RegistryBytes, Gateways: cfg.Registry.Gateways, PodLabels: cfg.Registry.Kubernetes.PodLabels}
	paths := cfg.ResolveAll(cfg.Registry.Paths)
	k := cfg.Registry.Kubernetes
	if !k.Enabled || offline {
		if k.Enabled {
			fmt.Fprintln(errOut, "note: --offline: registry.kubernetes not read; only registry.paths checked")
		}
		s, ds, err := registry.LoadPaths(paths, opts)
		return s, ds, nil, err
	}
	rc, err := kube.RestConfig(cfg.Resolve(k.Kubeconfig))
	if err != nil {
		return nil, nil, nil, err
	}
	src, err := kube.New(kube.Options{Rest: rc, Namespaces: k.Namespaces, GatewayNamespace: kube.GatewayNamespace(k.GatewayNamespace),
		Instance: "sluice-validate", NoEvents: true, PodLabels: k.PodLabels})
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := src.Start(ctx); err != nil {
		return nil, nil, nil, err
	}
	timeout := k.SyncTimeout.D()
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	sctx, scancel := context.WithTimeout(ctx, timeout)
	defer scancel()
	if err := src.WaitForSync(sctx); err != nil {
		return nil, nil, nil, err
	}
	rec := &recordingSource{Source: src}
	s, ds, err := registry.LoadWithSource(ctx, paths, opts, rec)
	return s, ds, rec.skipped, err
}

// recordingSource keeps what the load skipped.
type recordingSource struct {
	*kube.Source
	skipped []registry.Skipped
}

func (r *recordingSource) Applied(used []registry.Document, skipped []registry.Skipped) {
	r.skipped = skipped
	r.Source.Applied(used, skipped)
}
