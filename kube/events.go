package kube

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
)

// eventCallTimeout bounds each Event call: the recorder's sink calls carry
// no context, and an API server that hangs must not hold the broadcaster's
// one goroutine (the recorder retries a failed call, then drops the Event).
const eventCallTimeout = 10 * time.Second

// NewEventRecorder returns a recorder that posts Events (RBAC: create and
// patch events) in their object's namespace as component on host, with
// client-go's aggregation and spam filter; stop shuts its broadcaster down.
func (c *Core) NewEventRecorder(component, host string) (rec record.EventRecorder, stop func()) {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(eventSink{c})
	return b.NewRecorder(c.scheme, corev1.EventSource{Component: component, Host: host}), b.Shutdown
}

// eventSink is record.EventSink over Core: the three calls a recorder makes.
type eventSink struct{ c *Core }

func (s eventSink) Create(e *corev1.Event) (*corev1.Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), eventCallTimeout)
	defer cancel()
	out := &corev1.Event{}
	return out, s.c.rest.Post().Namespace(e.Namespace).Resource("events").Body(e).Do(ctx).Into(out)
}

func (s eventSink) Update(e *corev1.Event) (*corev1.Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), eventCallTimeout)
	defer cancel()
	out := &corev1.Event{}
	return out, s.c.rest.Put().Namespace(e.Namespace).Resource("events").Name(e.Name).Body(e).Do(ctx).Into(out)
}

func (s eventSink) Patch(e *corev1.Event, data []byte) (*corev1.Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), eventCallTimeout)
	defer cancel()
	out := &corev1.Event{}
	return out, s.c.rest.Patch(types.StrategicMergePatchType).Namespace(e.Namespace).Resource("events").Name(e.Name).
		Body(data).Do(ctx).Into(out)
}
