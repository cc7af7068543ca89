package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/sluicehq/sluice/registry"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Options configure a Source.
type Options struct {
	// Rest is the client config (RestConfig).
	Rest *rest.Config
	// Namespaces are the namespaces read; empty means all.
	Namespaces []string
	// GatewayNamespace is where the gateway runs (GatewayNamespace):
	// exportTo is judged from it and credentialName Secrets read in it.
	GatewayNamespace string
	// Instance names this gateway in the Events it writes.
	Instance string
	// NoEvents writes no Events (sluice validate only looks).
	NoEvents bool
	// PodLabels are the labels of the gateway's own pods: Gateways whose
	// selector they match narrow what is declared (Restriction).
	PodLabels map[string]string
	Logger    *slog.Logger
}

// Source is the registry's Kubernetes source; it implements
// registry.ObjectSource.
type Source struct {
	opts    Options
	log     *slog.Logger
	gvrs    map[string]schema.GroupVersionResource
	dyn     dynamic.Interface
	core    kubernetes.Interface
	changes chan struct{}
	events  *eventWriter

	factories []dynamicinformer.DynamicSharedInformerFactory
	informers map[string][]cache.SharedIndexInformer // by kind
	creds     *credentials

	mu       sync.Mutex
	refs     map[string]objectRef // by objectKey, as of the last Documents
	lastGood map[string]registry.Document
	reported map[string]bool // file + message of Events already written
	status   Status
}

// New connects to the API server and finds the versions it serves; Run
// starts the informers.
func New(opts Options) (*Source, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	dyn, err := dynamic.NewForConfig(opts.Rest)
	if err != nil {
		return nil, fmt.Errorf("registry.kubernetes: %w", err)
	}
	core, err := kubernetes.NewForConfig(opts.Rest)
	if err != nil {
		return nil, fmt.Errorf("registry.kubernetes: %w", err)
	}
	gvrs, err := served(core.Discovery())
	if err != nil {
		return nil, err
	}
	s := &Source{opts: opts, log: opts.Logger, gvrs: gvrs, dyn: dyn, core: core, changes: make(chan struct{}, 1),
		informers: map[string][]cache.SharedIndexInformer{}, refs: map[string]objectRef{},
		lastGood: map[string]registry.Document{}, reported: map[string]bool{}}
	s.events = newEventWriter(core, opts.Logger, opts.Instance)
	s.status.GatewayNamespace, s.status.Namespaces = opts.GatewayNamespace, opts.Namespaces
	s.status.Versions = map[string]string{}
	for k, gvr := range gvrs {
		s.status.Versions[k] = gvr.GroupVersion().String()
	}
	return s, nil
}

// Changes receives a value after the watched objects or Secrets change
// (coalesced: one pending value at most).
func (s *Source) Changes() <-chan struct{} { return s.changes }

func (s *Source) notify() {
	select {
	case s.changes <- struct{}{}:
	default:
	}
}

// Start starts the informers, the Event writer and the credentials
// mirror; they run until ctx ends.
func (s *Source) Start(ctx context.Context) error {
	creds, err := newCredentials(ctx, s.core, s.opts.GatewayNamespace, s.log, s.notify)
	if err != nil {
		return err
	}
	s.creds = creds
	go func() {
		<-ctx.Done()
		creds.close()
	}()
	go s.events.run(ctx)
	namespaces := s.opts.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{""} // every namespace
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.notify() },
		UpdateFunc: func(any, any) { s.notify() },
		DeleteFunc: func(any) { s.notify() },
	}
	for _, ns := range namespaces {
		f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(s.dyn, 0, ns, nil)
		for _, k := range kinds {
			gvr, ok := s.gvrs[k.Kind]
			if !ok {
				continue
			}
			inf := f.ForResource(gvr).Informer()
			if err := inf.SetTransform(toCompact); err != nil {
				return err
			}
			if _, err := inf.AddEventHandler(handler); err != nil {
				return err
			}
			s.informers[k.Kind] = append(s.informers[k.Kind], inf)
		}
		f.Start(ctx.Done())
		s.factories = append(s.factories, f)
	}
	return nil
}

// WaitForSync blocks until every informer has listed its resources, or
// ctx ends.
func (s *Source) WaitForSync(ctx context.Context) error {
	defer registry.BoundGC()() // the first list decodes every object at once
	start := time.Now()
	var synced []cache.InformerSynced
	for _, infs := range s.informers {
		for _, inf := range infs {
			synced = append(synced, inf.HasSynced)
		}
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return errors.New("registry.kubernetes: the first sync did not finish: " + context.Cause(ctx).Error())
	}
	s.mu.Lock()
	s.status.Synced, s.status.SyncDuration = true, time.Since(start).Round(time.Millisecond).String()
	s.mu.Unlock()
	return nil
}

// Synced reports whether the first full sync is done (/readyz).
func (s *Source) Synced() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status.Synced
}

// Documents returns the ServiceEntries, DestinationRules and VirtualServices exported to
// the gateway's namespace, each with its last good version.
func (s *Source) Documents() []registry.Document {
	s.mu.Lock()
	defer s.mu.Unlock()
	refs := map[string]objectRef{}
	var out []registry.Document
	counts := map[string]int{}
	var hidden []string
	for _, k := range kinds {
		for _, inf := range s.informers[k.Kind] {
			for _, o := range inf.GetStore().List() {
				obj, ok := o.(*compact)
				if !ok {
					continue
				}
				counts[k.Kind]++
				if k.Kind != "ServiceEntry" && k.Kind != "DestinationRule" && k.Kind != "VirtualService" {
					continue // listed, not declared (see the README)
				}
				if !visible(obj.ExportTo, obj.Namespace, s.opts.GatewayNamespace) {
					hidden = append(hidden, obj.Doc.Key)
					continue
				}
				if obj.Err != nil {
					s.log.Error("registry.kubernetes: cannot read an object", "object", obj.Doc.Key, "err", obj.Err)
					continue
				}
				d := obj.Doc
				refs[d.Key] = obj.ref()
				if lg, ok := s.lastGood[d.Key]; ok && lg.File != d.File {
					d.LastGood = &lg
				}
				out = append(out, d)
			}
		}
	}
	s.refs = refs
	sort.Strings(hidden)
	s.status.Objects, s.status.NotExported = counts, hidden
	return out
}

// Credentials mirrors the named Secrets of the gateway's namespace.
func (s *Source) Credentials(ctx context.Context, names []string) string {
	if s.creds == nil {
		return ""
	}
	return s.creds.ensure(ctx, names)
}

// Applied keeps the versions a load used as the last good ones, and logs
// and reports as Events the ones it skipped (once per version and
// message).
func (s *Source) Applied(used []registry.Document, skipped []registry.Skipped) {
	s.mu.Lock()
	defer s.mu.Unlock()
	good := make(map[string]registry.Document, len(used))
	for _, d := range used {
		good[d.Key] = registry.Document{Key: d.Key, File: d.File, Data: d.Data}
	}
	s.lastGood = good
	s.status.Applied = len(used)
	s.status.Skipped = nil
	reported := map[string]bool{} // only what is still skipped is remembered
	for _, sk := range skipped {
		errs := make([]string, len(sk.Diagnostics))
		for i, d := range sk.Diagnostics {
			errs[i] = findingText(d)
		}
		s.status.Skipped = append(s.status.Skipped, SkippedView{Resource: sk.Document.Key, File: sk.Document.File, Errors: errs, LastGoodKept: sk.Kept})
		msg := eventMessage(sk.Kept, errs)
		id := sk.Document.File + "\x00" + msg
		reported[id] = true
		if s.reported[id] {
			continue
		}
		s.log.Error("registry.kubernetes: resource skipped", "resource", sk.Document.Key, "source", sk.Document.File,
			"last_good_kept", sk.Kept, "errors", errs)
		if ref, ok := s.refs[sk.Document.Key]; ok && !s.opts.NoEvents {
			s.events.send(rejection{ref: ref, message: msg})
		}
	}
	s.reported = reported
	s.status.LastApplied = time.Now().UTC().Format(time.RFC3339)
}

// findingText is a finding without its file (the Event and the status
// name the object already): "line 12: spec.hosts[0]: invalid host *".
func findingText(d registry.Diagnostic) string {
	text := d.Msg
	if d.Field != "" {
		text = d.Field + ": " + text
	}
	if d.Line > 0 {
		text = fmt.Sprintf("line %d: %s", d.Line, text)
	}
	return text
}

// Status is the source's state, for /v1/registry.
func (s *Source) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Skipped = slices.Clone(st.Skipped)
	return st
}

// Status is what /v1/registry shows of the Kubernetes source.
type Status struct {
	Synced           bool              `json:"synced"`
	SyncDuration     string            `json:"sync_duration,omitempty"`
	GatewayNamespace string            `json:"gateway_namespace"`
	Namespaces       []string          `json:"namespaces,omitempty"` // empty: all
	Versions         map[string]string `json:"versions"`             // kind → the apiVersion watched
	Objects          map[string]int    `json:"objects"`              // by kind, in the watched namespaces
	NotExported      []string          `json:"not_exported,omitempty"`
	// Gateways are the Istio Gateways that select this gateway's pods:
	// only the hosts and ports their servers list are declared.
	Gateways    []string      `json:"gateways,omitempty"`
	Applied     int           `json:"applied"`
	Skipped     []SkippedView `json:"skipped,omitempty"`
	LastApplied string        `json:"last_applied,omitempty"`
}

// SkippedView is one resource the last load left out.
type SkippedView struct {
	Resource     string   `json:"resource"` // Kind namespace/name
	File         string   `json:"source"`   // with its resourceVersion
	Errors       []string `json:"errors"`
	LastGoodKept bool     `json:"last_good_kept"`
}
