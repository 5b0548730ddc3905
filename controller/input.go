package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/projectwarden/warden/controller/model"
	"github.com/projectwarden/warden/policy"
)

// work is what the event handlers leave for the run loop.
type work struct {
	all      bool                                     // judge everything, build from scratch
	proxies  map[policy.Key]bool                      // proxies to judge again
	touched  map[policy.Key]bool                      // proxies whose stored object changed, verdict and spec not
	services map[model.Key]*corev1.Service            // changed Services; nil: deleted
	slices   map[model.Key]*discoveryv1.EndpointSlice // changed EndpointSlices by their own key; nil: deleted
	secrets  map[model.Key]secretEvent                // changed Secrets
	fetched  map[model.Key]fetched                    // Secret data read in the background
	events   int                                      // changes recorded (Enqueue calls, object events)
	since    time.Time                                // when the first of them was recorded
}

// note counts one change, remembering when the first arrived (for the rebuild's log: how
// long a change waited before its rebuild began).
func (w *work) note() {
	if w.events == 0 {
		w.since = time.Now()
	}
	w.events++
}

func newWork() work {
	return work{proxies: map[policy.Key]bool{}, touched: map[policy.Key]bool{},
		services: map[model.Key]*corev1.Service{}, slices: map[model.Key]*discoveryv1.EndpointSlice{},
		secrets: map[model.Key]secretEvent{}, fetched: map[model.Key]fetched{}}
}

func (w work) empty() bool {
	return !w.all && len(w.proxies) == 0 && len(w.touched) == 0 && len(w.services) == 0 &&
		len(w.slices) == 0 && len(w.secrets) == 0 && len(w.fetched) == 0
}

// Watch registers the pipeline's handlers on the informers of Services, EndpointSlices and
// Secret metadata: the model reads the informers' objects themselves, without copies, as
// they change. Start waits until the handlers have seen every object.
func (p *Pipeline) Watch(ctx context.Context, informers cache.Informers) error {
	secret := &metav1.PartialObjectMetadata{}
	secret.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	for _, h := range []struct {
		obj client.Object
		on  func(obj any, deleted bool)
	}{
		{&corev1.Service{}, p.onService},
		{&discoveryv1.EndpointSlice{}, p.onSlice},
		{secret, p.onSecret},
	} {
		inf, err := informers.GetInformer(ctx, h.obj, cache.BlockUntilSynced(false))
		if err != nil {
			return fmt.Errorf("watching %T: %w", h.obj, err)
		}
		reg, err := inf.AddEventHandler(handler(h.on))
		if err != nil {
			return fmt.Errorf("watching %T: %w", h.obj, err)
		}
		p.mu.Lock()
		p.watched = append(p.watched, reg)
		p.mu.Unlock()
	}
	return nil
}

// handler adapts on to informer events; updates that change nothing (a resync) are
// dropped.
func handler(on func(obj any, deleted bool)) toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { on(obj, false) },
		UpdateFunc: func(oldObj, newObj any) {
			o, okOld := oldObj.(metav1.Object)
			n, okNew := newObj.(metav1.Object)
			if okOld && okNew && o.GetResourceVersion() == n.GetResourceVersion() {
				return
			}
			on(newObj, false)
		},
		DeleteFunc: func(obj any) { on(obj, true) },
	}
}

// unwrap returns the object of an event and its key; a delete whose final state is unknown
// carries only the key.
func unwrap(obj any) (any, model.Key, bool) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		ns, name, err := toolscache.SplitMetaNamespaceKey(t.Key)
		return t.Obj, model.Key{Namespace: ns, Name: name}, err == nil
	}
	o, ok := obj.(metav1.Object)
	if !ok {
		return nil, model.Key{}, false
	}
	return obj, model.KeyOf(o), true
}

func (p *Pipeline) onService(obj any, deleted bool) {
	record(p, obj, deleted, func(w *work) map[model.Key]*corev1.Service { return w.services })
}

func (p *Pipeline) onSlice(obj any, deleted bool) {
	record(p, obj, deleted, func(w *work) map[model.Key]*discoveryv1.EndpointSlice { return w.slices })
}

// record notes the change of an informer object (nil when deleted) in the map of the
// pending work that changed selects (under p.mu: the work is replaced by each rebuild), and
// wakes the pipeline.
func record[T any](p *Pipeline, obj any, deleted bool, changed func(*work) map[model.Key]*T) {
	o, k, ok := unwrap(obj)
	if !ok {
		return
	}
	v, _ := o.(*T)
	if deleted {
		v = nil
	}
	p.mu.Lock()
	changed(&p.work)[k] = v
	p.work.note()
	p.mu.Unlock()
	p.poke()
}

// secretEvent is the latest event of one Secret.
type secretEvent struct {
	exists bool
	rv     string // its resourceVersion; "" if unknown
}

func (p *Pipeline) onSecret(obj any, deleted bool) {
	o, k, ok := unwrap(obj)
	if !ok {
		return
	}
	ev := secretEvent{exists: !deleted}
	if m, ok := o.(metav1.Object); ok {
		ev.rv = m.GetResourceVersion()
	}
	p.mu.Lock()
	p.work.secrets[k] = ev
	p.work.note()
	p.mu.Unlock()
	p.poke()
}

// applyObjects applies the changed Services, EndpointSlices and Secrets to the input. It
// returns the vhosts to rebuild and the Services whose endpoints to refresh.
func (p *Pipeline) applyObjects(w work) (sets.Set[string], []model.Key) {
	fqdns := sets.New[string]()
	for k, svc := range w.services {
		if svc == nil {
			delete(p.in.Services, k)
		} else {
			p.in.Services[k] = svc
		}
		fqdns.Insert(p.indexed(func(ix model.Index) []string { return ix.ServiceToFQDNs[k] })...)
	}
	refresh := sets.New[model.Key]()
	for k, s := range w.slices {
		if svc, ok := p.sliceOwner[k]; ok {
			p.in.EndpointSlices[svc] = withoutSlice(p.in.EndpointSlices[svc], k.Name)
			if len(p.in.EndpointSlices[svc]) == 0 {
				delete(p.in.EndpointSlices, svc)
			}
			delete(p.sliceOwner, k)
			refresh.Insert(svc)
		}
		if name := serviceOf(s); name != "" {
			svc := model.Key{Namespace: k.Namespace, Name: name}
			p.in.EndpointSlices[svc] = append(withoutSlice(p.in.EndpointSlices[svc], k.Name), s)
			p.sliceOwner[k] = svc
			refresh.Insert(svc)
		}
	}
	for k, ev := range w.secrets {
		if ev.exists {
			p.in.Secrets.Insert(k)
		} else {
			p.in.Secrets.Delete(k)
		}
		p.secretData.changed(k, ev) // read again: the Secret may hold new data
		fqdns.Insert(p.indexed(func(ix model.Index) []string { return ix.SecretToFQDNs[k] })...)
	}
	var endpoints []model.Key
	for svc := range refresh {
		if p.indexed(func(ix model.Index) []string { return ix.ServiceToFQDNs[svc] }) != nil {
			endpoints = append(endpoints, svc) // only Services some vhost routes to have endpoints
		}
	}
	return fqdns, endpoints
}

// serviceOf is the Service an EndpointSlice belongs to, "" for none.
func serviceOf(s *discoveryv1.EndpointSlice) string {
	if s == nil {
		return ""
	}
	return s.Labels[discoveryv1.LabelServiceName]
}

// withoutSlice returns a new list without the slice named name: the input's lists are
// never modified in place.
func withoutSlice(list []*discoveryv1.EndpointSlice, name string) []*discoveryv1.EndpointSlice {
	out := make([]*discoveryv1.EndpointSlice, 0, len(list)+1)
	for _, s := range list {
		if s.Name != name {
			out = append(out, s)
		}
	}
	return out
}

// judge re-judges proxies, updates the accepted set, and returns the vhosts to rebuild.
func (p *Pipeline) judge(ctx context.Context, proxies []policy.Key) (sets.Set[string], error) {
	verdicts, err := p.judgeAll(ctx, proxies)
	if err != nil {
		return nil, err
	}
	fqdns := sets.New[string]()
	for i, k := range proxies {
		mk := model.Key(k)
		fqdns.Insert(p.indexed(func(ix model.Index) []string { return ix.ProxyToFQDNs[mk] })...)
		v := verdicts[i]
		obj := p.d.Inventory().Proxy(k)
		if v == nil || obj == nil {
			p.states.set(k, "")
		} else {
			p.states.set(k, v.Status.CurrentStatus)
		}
		if old := p.in.Proxies[mk]; old != nil {
			fqdns.Insert(p.unaccept(old))
		}
		if v == nil || obj == nil || !v.Accepted() {
			continue
		}
		fqdns.Insert(p.accept(obj))
	}
	fqdns.Delete("")
	return fqdns, nil
}

// accept adds obj to the accepted set and returns its vhost's fqdn, "" if it is not a root.
func (p *Pipeline) accept(obj *contourv1.HTTPProxy) string {
	k := model.KeyOf(obj)
	p.in.Proxies[k] = obj
	fqdn := rootFQDN(obj)
	if fqdn != "" {
		if p.roots[fqdn] == nil {
			p.roots[fqdn] = map[model.Key]*contourv1.HTTPProxy{}
		}
		p.roots[fqdn][k] = obj
	}
	return fqdn
}

// unaccept removes obj from the accepted set and returns its vhost's fqdn, "" if it was
// not a root.
func (p *Pipeline) unaccept(obj *contourv1.HTTPProxy) string {
	k := model.KeyOf(obj)
	delete(p.in.Proxies, k)
	fqdn := rootFQDN(obj)
	if r := p.roots[fqdn]; r != nil {
		if delete(r, k); len(r) == 0 {
			delete(p.roots, fqdn)
		}
	}
	return fqdn
}

// rootFQDN is a root's fqdn as the model groups roots (lower-cased), "" for a non-root.
func rootFQDN(obj *contourv1.HTTPProxy) string {
	if vh := obj.Spec.VirtualHost; vh != nil {
		return strings.ToLower(vh.Fqdn)
	}
	return ""
}

// applyTouched swaps in the stored objects of touched proxies whose spec did not change
// (same generation), unless they were judged in this round anyway.
func (p *Pipeline) applyTouched(touched, judged map[policy.Key]bool) {
	for k := range touched {
		if judged[k] {
			continue
		}
		mk := model.Key(k)
		cur, obj := p.in.Proxies[mk], p.d.Inventory().Proxy(k)
		if cur == nil || obj == nil || cur == obj || cur.UID != obj.UID || cur.Generation != obj.Generation {
			continue
		}
		p.unaccept(cur)
		p.accept(obj)
	}
}

// resetAccepted empties the accepted set before a full rebuild.
func (p *Pipeline) resetAccepted() {
	p.in.Proxies = map[model.Key]*contourv1.HTTPProxy{}
	p.roots = map[string]map[model.Key]*contourv1.HTTPProxy{}
	p.states = newStateCounts()
}

// fullInput is the input with every accepted root, for model.Build.
func (p *Pipeline) fullInput() model.Input {
	in := p.in
	in.Roots = nil
	for _, r := range p.roots {
		for _, obj := range r {
			in.Roots = append(in.Roots, obj)
		}
	}
	return in
}

// inputFor is the input with only the roots claiming fqdns: model.Rebuild looks for the
// roots of each fqdn it rebuilds among in.Roots, and the others would only cost time.
func (p *Pipeline) inputFor(fqdns sets.Set[string]) model.Input {
	in := p.in
	in.Roots = nil
	for fqdn := range fqdns {
		for _, obj := range p.roots[fqdn] {
			in.Roots = append(in.Roots, obj)
		}
	}
	return in
}

// stateCounts keeps the currentStatus of every judged proxy and how many have each, for
// the warden_httpproxies gauge, without a walk over every proxy per rebuild.
type stateCounts struct {
	of     map[policy.Key]string
	counts map[string]int
}

func newStateCounts() stateCounts {
	return stateCounts{of: map[policy.Key]string{},
		counts: map[string]int{policy.StatusValid: 0, policy.StatusInvalid: 0, policy.StatusOrphaned: 0}}
}

// set records k's currentStatus; "" forgets k.
func (s *stateCounts) set(k policy.Key, status string) {
	if old, ok := s.of[k]; ok {
		s.counts[old]--
	}
	if status == "" {
		delete(s.of, k)
		return
	}
	s.of[k] = status
	s.counts[status]++
}
