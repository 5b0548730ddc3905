package watch

import (
	"context"
	"fmt"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	policyv1alpha1 "github.com/projectwarden/warden/apis/policy/v1alpha1"
	"github.com/projectwarden/warden/policy"
)

// kind is one watched kind: how to ask the cache for its informer and how its objects reach
// the Decider.
type kind struct {
	name string
	// newObject returns an empty object of the kind: the informer's type, and the object a
	// delete tombstone without a final state is turned into.
	newObject func() client.Object
	apply     func(ctx context.Context, obj client.Object) error
	remove    func(ctx context.Context, obj client.Object) error
	// unchanged, if set, reports that an update does not concern the Decider.
	unchanged func(oldObj, newObj client.Object) bool
	// applyFailed is the log message when apply fails.
	applyFailed string
}

// kinds lists what the Feed watches. Each call builds the list afresh (no package state).
func (f *Feed) kinds() []kind {
	const failed = "cannot record object in the inventory"
	apply, remove := f.decider.Apply, f.decider.Remove
	return []kind{
		{name: "HTTPProxy", newObject: func() client.Object { return &contourv1.HTTPProxy{} },
			apply: apply, remove: remove, applyFailed: failed},
		{name: "TLSCertificateDelegation", newObject: func() client.Object { return &contourv1.TLSCertificateDelegation{} },
			apply: apply, remove: remove, applyFailed: failed},
		{name: "DelegationPolicy", newObject: func() client.Object { return &policyv1alpha1.DelegationPolicy{} },
			apply: f.applyPolicy, remove: f.removePolicy, unchanged: sameGeneration,
			applyFailed: "DelegationPolicy not activated; the previously active version, if any, stays in force"},
		{name: "Namespace", newObject: func() client.Object { return &corev1.Namespace{} },
			apply: apply, remove: remove, applyFailed: failed},
		{name: "Service", newObject: func() client.Object { return &corev1.Service{} },
			apply: apply, remove: remove, applyFailed: failed},
		{name: "Secret", newObject: secretMetadata,
			apply: f.applySecret, remove: f.removeSecret, applyFailed: failed},
	}
}

// secretMetadata is the informer type for Secrets: metadata only, so the cache never holds
// (and the API server never sends) Secret data.
func secretMetadata() client.Object {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}

func (f *Feed) applySecret(_ context.Context, obj client.Object) error {
	f.decider.Inventory().ApplySecretMetadata(policy.Key{Namespace: obj.GetNamespace(), Name: obj.GetName()})
	return nil
}

func (f *Feed) removeSecret(ctx context.Context, obj client.Object) error {
	// The Decider tells kinds apart by Go type and reads only the namespace and name.
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: obj.GetNamespace(), Name: obj.GetName()}}
	return f.decider.Remove(ctx, s)
}

// applyPolicy compiles, tests and activates a DelegationPolicy. When that fails the
// Decider keeps the previously active version; the error is kept for PolicyErrors.
func (f *Feed) applyPolicy(ctx context.Context, obj client.Object) error {
	err := f.decider.Apply(ctx, obj)
	f.setPolicyError(obj.GetName(), err)
	return err
}

func (f *Feed) removePolicy(ctx context.Context, obj client.Object) error {
	f.setPolicyError(obj.GetName(), nil)
	return f.decider.Remove(ctx, obj)
}

// sameGeneration reports an update that left the spec alone (metadata.generation unchanged:
// a status write, a label, a resync). Recompiling a DelegationPolicy and rerunning its tests
// for those would cost much and change nothing, and the controller writes policy status
// often.
func sameGeneration(oldObj, newObj client.Object) bool {
	return newObj.GetGeneration() != 0 && oldObj.GetGeneration() == newObj.GetGeneration()
}

// handler applies the events of kind k. ctx is Start's: it carries the logger and ends the
// Feed; an event that arrives once it is done is dropped, since the handler is being removed.
func (f *Feed) handler(ctx context.Context, k kind) toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { f.upsert(ctx, k, obj, nil) },
		UpdateFunc: func(oldObj, newObj any) {
			f.upsert(ctx, k, newObj, oldObj)
		},
		DeleteFunc: func(obj any) { f.delete(ctx, k, obj) },
	}
}

func (f *Feed) upsert(ctx context.Context, k kind, obj, oldObj any) {
	if ctx.Err() != nil {
		return
	}
	log := ctrl.LoggerFrom(ctx)
	o, ok := obj.(client.Object)
	if !ok {
		log.Error(nil, "ignoring an object of unexpected type", "kind", k.name, "type", fmt.Sprintf("%T", obj))
		return
	}
	if old, ok := oldObj.(client.Object); ok && k.unchanged != nil && k.unchanged(old, o) {
		return
	}
	if err := k.apply(ctx, o); err != nil {
		log.Error(err, k.applyFailed, "kind", k.name, "object", klog.KObj(o))
	}
	f.applied(k, o)
}

func (f *Feed) delete(ctx context.Context, k kind, obj any) {
	if ctx.Err() != nil {
		return
	}
	log := ctrl.LoggerFrom(ctx)
	o, ok := deleted(k, obj)
	if !ok {
		log.Error(nil, "ignoring a delete of unexpected type", "kind", k.name, "type", fmt.Sprintf("%T", obj))
		return
	}
	if err := k.remove(ctx, o); err != nil {
		log.Error(err, "cannot remove object from the inventory", "kind", k.name, "object", klog.KObj(o))
	}
	f.applied(k, o)
}

// deleted returns the object a delete event is about. When the informer missed the delete
// (its watch broke and a relist no longer found the object) it hands over a
// DeletedFinalStateUnknown tombstone instead: its last known state if there is one,
// otherwise only its "namespace/name" key, from which an empty object of the kind is made
// (the Decider's Remove reads only kind, namespace and name).
func deleted(k kind, obj any) (client.Object, bool) {
	t, ok := obj.(toolscache.DeletedFinalStateUnknown)
	if !ok {
		o, ok := obj.(client.Object)
		return o, ok
	}
	if o, ok := t.Obj.(client.Object); ok {
		return o, true
	}
	ns, name, err := toolscache.SplitMetaNamespaceKey(t.Key)
	if err != nil || name == "" {
		return nil, false
	}
	o := k.newObject()
	o.SetNamespace(ns)
	o.SetName(name)
	return o, true
}

func (f *Feed) applied(k kind, o client.Object) {
	if f.opts.OnApplied != nil {
		f.opts.OnApplied(k.name, policy.Key{Namespace: o.GetNamespace(), Name: o.GetName()})
	}
}
