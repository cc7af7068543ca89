package kube

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// secretKeys are the keys of Istio's two credential formats (the TLS
// Secret's and the generic one), the only keys written out.
var secretKeys = []string{"tls.crt", "tls.key", "ca.crt", "ca.crl", "cert", "key", "cacert", "crl"}

// credentials mirrors the Secrets that DestinationRules name in
// credentialName — and each one's "<name>-cacert" companion — from the
// gateway's namespace into dir, one subdirectory per Secret, laid out as
// the registry reads a mounted Secret. Each Secret is read with get and
// followed with a watch on its name alone: the ServiceAccount needs no
// right to list Secrets. A change is written atomically (a new directory,
// then a symlink swap) and reported through changed, so that the next
// load uses the rotated certificate; connections already open keep theirs.
type credentials struct {
	client    kubernetes.Interface
	namespace string
	dir       string
	log       *slog.Logger
	changed   func()

	mu      sync.Mutex
	ctx     context.Context
	watched map[string]bool
}

func newCredentials(ctx context.Context, client kubernetes.Interface, namespace string, log *slog.Logger, changed func()) (*credentials, error) {
	dir, err := os.MkdirTemp("", "sluice-credentials-")
	if err != nil {
		return nil, fmt.Errorf("registry.kubernetes: credentials directory: %w", err)
	}
	return &credentials{client: client, namespace: namespace, dir: dir, log: log, changed: changed, ctx: ctx, watched: map[string]bool{}}, nil
}

// ensure starts following every name not followed yet (and its -cacert
// companion), reading each once before it returns so that the load that
// asked sees the Secrets that exist. Names are never dropped: a
// DestinationRule that comes back finds its Secret current.
func (c *credentials) ensure(ctx context.Context, names []string) string {
	c.mu.Lock()
	var fresh []string
	for _, n := range names {
		for _, s := range []string{n, n + "-cacert"} {
			if !c.watched[s] {
				c.watched[s] = true
				fresh = append(fresh, s)
			}
		}
	}
	c.mu.Unlock()
	for _, name := range fresh {
		rv := c.read(ctx, name)
		go c.follow(name, rv)
	}
	return c.dir
}

// read gets one Secret and writes (or removes) its files; it returns the
// resourceVersion to watch from.
func (c *credentials) read(ctx context.Context, name string) string {
	gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := c.client.CoreV1().Secrets(c.namespace).Get(gctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		c.remove(name)
		return ""
	case err != nil:
		c.log.Warn("registry.kubernetes: reading a credential Secret", "secret", c.namespace+"/"+name, "err", err)
		return ""
	}
	c.write(s)
	return s.ResourceVersion
}

// follow watches one Secret by name until the source stops, re-watching
// after the server ends a watch (from scratch when its version is gone).
func (c *credentials) follow(name, rv string) {
	backoff := time.Second
	for c.ctx.Err() == nil {
		w, err := c.client.CoreV1().Secrets(c.namespace).Watch(c.ctx, metav1.ListOptions{
			FieldSelector: "metadata.name=" + name, ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			c.log.Debug("registry.kubernetes: watching a credential Secret", "secret", c.namespace+"/"+name, "err", err)
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
			rv = ""
			continue
		}
		backoff = time.Second
		rv = c.drain(w, name, rv)
	}
}

// drain applies the events of one watch and returns the version to
// resume from ("" after an error such as 410 Gone).
func (c *credentials) drain(w watch.Interface, name, rv string) string {
	defer w.Stop()
	for ev := range w.ResultChan() {
		s, ok := ev.Object.(*corev1.Secret)
		switch {
		case ev.Type == watch.Error || !ok:
			return ""
		case ev.Type == watch.Bookmark:
			rv = s.ResourceVersion
		case ev.Type == watch.Deleted:
			c.remove(name)
			rv = s.ResourceVersion
			c.changed()
		default:
			if s.ResourceVersion != rv {
				c.write(s)
				c.changed()
			}
			rv = s.ResourceVersion
		}
	}
	return rv
}

// write lays out a Secret's credential keys in a new directory and points
// <dir>/<name> at it, then removes the old one.
func (c *credentials) write(s *corev1.Secret) {
	target := filepath.Join(c.dir, "."+s.Name+"-"+s.ResourceVersion)
	if err := os.MkdirAll(target, 0o700); err != nil {
		c.log.Error("registry.kubernetes: writing a credential", "secret", s.Name, "err", err)
		return
	}
	for _, k := range secretKeys {
		if v, ok := s.Data[k]; ok {
			if err := os.WriteFile(filepath.Join(target, k), v, 0o600); err != nil {
				c.log.Error("registry.kubernetes: writing a credential", "secret", s.Name, "err", err)
				return
			}
		}
	}
	c.swap(s.Name, target)
	c.log.Info("registry.kubernetes: credential loaded", "secret", c.namespace+"/"+s.Name, "resourceVersion", s.ResourceVersion)
}

// swap points the link <dir>/<name> at target atomically (rename over
// the old link) and removes the directory it pointed at before; an empty
// target removes the link.
func (c *credentials) swap(name, target string) {
	link := filepath.Join(c.dir, name)
	old, _ := os.Readlink(link)
	if target == "" {
		_ = os.Remove(link)
	} else {
		tmp := link + ".new"
		_ = os.Remove(tmp)
		if err := os.Symlink(target, tmp); err != nil || os.Rename(tmp, link) != nil {
			c.log.Error("registry.kubernetes: switching a credential", "secret", name, "err", err)
			return
		}
	}
	if old != "" && old != target {
		_ = os.RemoveAll(old)
	}
}

func (c *credentials) remove(name string) { c.swap(name, "") }

// close removes the mirrored credentials.
func (c *credentials) close() { _ = os.RemoveAll(c.dir) }
