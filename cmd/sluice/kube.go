package main

import (
	"context"
	"errors"
	"time"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/registry/kube"
)

// kubeReloadDebounce folds a burst of API changes (an apply of many
// objects) into one reload; well inside the 2 s a change must take.
const kubeReloadDebounce = 100 * time.Millisecond

// loadRegistry makes the first load: from the files, and, with
// registry.kubernetes, from the API once its first full sync is done
// (bounded by registry.kubernetes.sync_timeout), so that the gateway
// never serves a set without the cluster's resources.
func (a *app) loadRegistry(ctx context.Context) error {
	k := a.cfg.Registry.Kubernetes
	if !k.Enabled {
		return a.registry.Load(ctx)
	}
	rc, err := kube.RestConfig(a.cfg.Resolve(k.Kubeconfig))
	if err != nil {
		return err
	}
	src, err := kube.New(kube.Options{Rest: rc, Namespaces: k.Namespaces, GatewayNamespace: kube.GatewayNamespace(k.GatewayNamespace),
		Instance: gatewayID(), Logger: a.log, PodLabels: k.PodLabels})
	if err != nil {
		return err
	}
	// The informers live as long as the process: the registry keeps
	// reloading from them until serve returns.
	if err := src.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	timeout := k.SyncTimeout.D()
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	if err := src.WaitForSync(sctx); err != nil {
		return err
	}
	a.kube = src
	if err := a.registry.ReloadFrom(ctx, src); err != nil {
		return err
	}
	a.log.Info("registry.kubernetes: first sync done", "duration", time.Since(start).Round(time.Millisecond).String(),
		"gateway_namespace", kube.GatewayNamespace(k.GatewayNamespace))
	return nil
}

// reloadRegistry reloads the files, merged with the API's objects when
// registry.kubernetes is on.
func (a *app) reloadRegistry(ctx context.Context) error {
	if a.kube == nil {
		return a.registry.Reload(ctx)
	}
	return a.registry.ReloadFrom(ctx, a.kube)
}

// watchRegistry reloads on file changes and, with registry.kubernetes, on
// API and Secret changes, until ctx ends.
func (a *app) watchRegistry(ctx context.Context) error {
	if a.kube != nil {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-a.kube.Changes():
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(kubeReloadDebounce):
				}
				_ = a.reloadRegistry(ctx)
			}
		}()
	}
	return registry.Watch(ctx, a.cfg.ResolveAll(a.cfg.Registry.Paths), 0, func() { _ = a.reloadRegistry(ctx) })
}

// kubeReady is the /readyz check of registry.kubernetes.
func (a *app) kubeReady(context.Context) error {
	if a.kube != nil && !a.kube.Synced() {
		return errors.New("registry.kubernetes: first sync not done")
	}
	return nil
}
