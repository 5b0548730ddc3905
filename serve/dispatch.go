package serve

import (
	"context"
	"hash/maphash"
	"maps"
	"slices"
	"sync"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"

	"github.com/projectwarden/warden/controller"
	"github.com/projectwarden/warden/controller/status"
	"github.com/projectwarden/warden/policy"
)

// relatedCap is policy.Decider.Related's bound on the proxies one change names: a change
// that reaches it may have altered verdicts beyond those named, so every remembered
// verdict is dropped.
const relatedCap = 4096

// dispatcher turns the watch feed's events into work for the status writer and the routing
// pipeline. It works out once per change which proxies the change may affect
// (controller.Changes), drops their remembered verdicts (controller.Verdicts, shared by
// both consumers) and enqueues them with both, so that each is judged once per change.
//
// An HTTPProxy update that changes nothing a verdict depends on — a status write, which
// is most updates while statuses are being written — is not a change: the writer's own
// writes would otherwise re-judge every tree they touch. Spec changes move the generation;
// the metadata rules may read (labels, annotations, finalizers, owners, deletion) is
// fingerprinted.
type dispatcher struct {
	d        *policy.Decider
	changes  *controller.Changes
	verdicts *controller.Verdicts
	writer   *status.Writer       // nil: status is not written
	pipeline *controller.Pipeline // nil: no xDS

	mu   sync.Mutex
	seen map[policy.Key]proxyVersion // per HTTPProxy, what was last acted on
}

// proxyVersion is what of an HTTPProxy a verdict depends on, besides other objects.
type proxyVersion struct {
	generation int64
	meta       uint64
}

func newDispatcher(d *policy.Decider, v *controller.Verdicts) *dispatcher {
	return &dispatcher{d: d, changes: controller.NewChanges(d), verdicts: v, seen: map[policy.Key]proxyVersion{}}
}

// onApplied is the feed's callback. Namespaces (whose labels feed admin policies) and
// DelegationPolicies can alter any verdict: everything is judged again.
func (q *dispatcher) onApplied(ctx context.Context, kind string, k policy.Key) {
	switch kind {
	case "Namespace", "DelegationPolicy":
		q.resyncAll(ctx)
		return
	case policy.KindHTTPProxy:
		if !q.proxyChanged(k) {
			if q.pipeline != nil {
				q.pipeline.Touch(k)
			}
			return
		}
	}
	affected := q.changes.Affected(kind, k)
	if len(affected) >= relatedCap {
		q.resyncAll(ctx)
		return
	}
	q.verdicts.Invalidate(affected...)
	if q.pipeline != nil {
		q.pipeline.Enqueue(affected...)
	}
	if q.writer != nil {
		for _, x := range affected {
			q.writer.Enqueue(x)
		}
	}
}

func (q *dispatcher) resyncAll(ctx context.Context) {
	q.verdicts.InvalidateAll()
	if q.pipeline != nil {
		q.pipeline.ResyncAll(ctx)
	}
	if q.writer != nil {
		go q.writer.ResyncAll(ctx) // lists the cache: not on the informer's goroutine
	}
}

// proxyChanged records the HTTPProxy k as the Decider now holds it and reports whether it
// differs from what was last acted on in anything a verdict depends on.
func (q *dispatcher) proxyChanged(k policy.Key) bool {
	p := q.d.Inventory().Proxy(k)
	q.mu.Lock()
	defer q.mu.Unlock()
	if p == nil {
		delete(q.seen, k)
		return true
	}
	v := proxyVersion{generation: p.Generation, meta: metaFingerprint(p)}
	old, ok := q.seen[k]
	q.seen[k] = v
	return !ok || old != v
}

var fingerprintSeed = maphash.MakeSeed()

// metaFingerprint hashes the metadata of p that the Rego input carries and that may change
// without the generation: labels, annotations, finalizers, owner references and deletion.
// The resourceVersion is left out on purpose: it changes with every status write, and no
// rule reads it.
func metaFingerprint(p *contourv1.HTTPProxy) uint64 {
	var h maphash.Hash
	h.SetSeed(fingerprintSeed)
	for _, m := range []map[string]string{p.Labels, p.Annotations} {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			h.WriteString(k)
			h.WriteByte(0)
			h.WriteString(m[k])
			h.WriteByte(0)
		}
		h.WriteByte(1)
	}
	for _, f := range p.Finalizers {
		h.WriteString(f)
		h.WriteByte(0)
	}
	for _, o := range p.OwnerReferences {
		h.WriteString(o.APIVersion + "\x00" + o.Kind + "\x00" + o.Name + "\x00" + string(o.UID) + "\x00")
	}
	if t := p.DeletionTimestamp; t != nil {
		h.WriteString(t.UTC().String())
	}
	return h.Sum64()
}
