package kube

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// EventReason is the reason of the Warning Event on a resource Sluice
// skipped: `kubectl get events --field-selector reason=SluiceRejected`.
const EventReason = "SluiceRejected"

// objectRef is what an Event needs to name its object.
type objectRef struct {
	APIVersion, Kind, Namespace, Name, ResourceVersion string
	UID                                                types.UID
}

// rejection is one Event to write.
type rejection struct {
	ref     objectRef
	message string
}

// eventWriter creates the Events of skipped resources off the reload
// path (a reload must not wait on the API), one per object version and
// message.
type eventWriter struct {
	client   kubernetes.Interface
	log      *slog.Logger
	instance string
	queue    chan rejection
}

func newEventWriter(client kubernetes.Interface, log *slog.Logger, instance string) *eventWriter {
	return &eventWriter{client: client, log: log, instance: instance, queue: make(chan rejection, 1024)}
}

// send queues an Event; when the queue is full the Event is dropped (the
// log line and /v1/registry still say it).
func (w *eventWriter) send(r rejection) {
	select {
	case w.queue <- r:
	default:
		w.log.Warn("registry.kubernetes: event queue full; event dropped", "object", r.ref.Namespace+"/"+r.ref.Name)
	}
}

// run writes queued Events until ctx ends.
func (w *eventWriter) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-w.queue:
			w.write(ctx, r)
		}
	}
}

func (w *eventWriter) write(ctx context.Context, r rejection) {
	now := metav1.NewTime(time.Now())
	msg := r.message
	if len(msg) > 1000 {
		msg = msg[:1000] + "…"
	}
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%s.%x", r.ref.Name, time.Now().UnixNano()),
			Namespace: r.ref.Namespace,
		},
		InvolvedObject: corev1.ObjectReference{APIVersion: r.ref.APIVersion, Kind: r.ref.Kind, Namespace: r.ref.Namespace,
			Name: r.ref.Name, UID: r.ref.UID, ResourceVersion: r.ref.ResourceVersion},
		Reason:              EventReason,
		Message:             msg,
		Type:                corev1.EventTypeWarning,
		Source:              corev1.EventSource{Component: "sluice"},
		ReportingController: "sluice.dev/registry",
		ReportingInstance:   w.instance,
		Action:              "Skipped",
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := w.client.CoreV1().Events(r.ref.Namespace).Create(cctx, ev, metav1.CreateOptions{}); err != nil {
		w.log.Warn("registry.kubernetes: could not write the Event", "object", r.ref.Kind+" "+r.ref.Namespace+"/"+r.ref.Name, "err", err)
	}
}

// eventMessage is an Event's message: every error, without the file
// prefix (the Event is on the object already).
func eventMessage(kept bool, errs []string) string {
	head := "Sluice skipped this resource; the rest of the registry applies"
	if kept {
		head = "Sluice skipped this version; its last good version stays in force"
	}
	return head + ": " + strings.Join(errs, "; ")
}
