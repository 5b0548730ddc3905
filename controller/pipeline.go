package controller

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/projectwarden/warden/controller/model"
	"github.com/projectwarden/warden/policy"
)

// DefaultCoalesce is how long the pipeline waits after a change for more changes before it
// rebuilds: bursts (a kubectl apply of many objects) become one rebuild.
const DefaultCoalesce = 20 * time.Millisecond

// Publisher receives every new model. It must not modify it.
type Publisher interface {
	Publish(ctx context.Context, m *model.Model) error
}

// Options configure a Pipeline.
type Options struct {
	// Model settings (permitInsecure, fallback certificate).
	Model model.Options
	// Coalesce is the wait after a change before rebuilding. Default DefaultCoalesce.
	Coalesce time.Duration
	// Registerer receives the pipeline's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Pipeline keeps the accepted set and the routing model current.
type Pipeline struct {
	d       *policy.Decider
	cache   client.Reader // informer cache: Services, EndpointSlices
	secrets client.Reader // reads Secret data of referenced certificates
	pub     Publisher
	opts    Options
	metrics *metrics

	mu       sync.Mutex
	pending  map[policy.Key]bool // proxies to re-judge
	services map[model.Key]bool  // Services whose endpoints changed
	secretsC map[model.Key]bool  // Secrets that changed
	all      bool                // rebuild everything
	changes  *Changes
	wake     chan struct{}

	// Owned by the run loop.
	accepted map[policy.Key]*contourv1.HTTPProxy
	states   map[string]string // "ns/name" -> currentStatus, for metrics
	model    *model.Model
	data     map[model.Key]map[string][]byte // Secret data by key
}

// New returns a Pipeline. cache serves Services and EndpointSlices; secrets reads the data
// of Secrets the model references (Warden watches only Secret metadata).
func New(d *policy.Decider, cache, secrets client.Reader, pub Publisher, o Options) (*Pipeline, error) {
	if o.Coalesce <= 0 {
		o.Coalesce = DefaultCoalesce
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	return &Pipeline{d: d, cache: cache, secrets: secrets, pub: pub, opts: o, metrics: m,
		pending: map[policy.Key]bool{}, services: map[model.Key]bool{}, secretsC: map[model.Key]bool{},
		changes: NewChanges(d), wake: make(chan struct{}, 1), all: true,
		accepted: map[policy.Key]*contourv1.HTTPProxy{}, states: map[string]string{}, data: map[model.Key]map[string][]byte{}}, nil
}

// OnApplied is the watch feed's callback: the Decider has seen a change of (kind, k).
func (p *Pipeline) OnApplied(kind string, k policy.Key) {
	p.mu.Lock()
	switch kind {
	case "Namespace", "DelegationPolicy":
		p.all = true
	case policy.KindSecret:
		p.secretsC[model.Key{Namespace: k.Namespace, Name: k.Name}] = true
		fallthrough
	default:
		for _, x := range p.changes.Affected(kind, k) {
			p.pending[x] = true
		}
	}
	p.mu.Unlock()
	p.poke()
}

// OnEndpointSlice records that a Service's endpoints changed.
func (p *Pipeline) OnEndpointSlice(s *discoveryv1.EndpointSlice) {
	name := s.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return
	}
	p.mu.Lock()
	p.services[model.Key{Namespace: s.Namespace, Name: name}] = true
	p.mu.Unlock()
	p.poke()
}

func (p *Pipeline) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// NeedLeaderElection is false: every replica serves xDS.
func (p *Pipeline) NeedLeaderElection() bool { return false }

// Start rebuilds after every burst of changes until ctx ends. The first build happens at
// once (the caller starts it after the informers have synced).
func (p *Pipeline) Start(ctx context.Context) error {
	log := logr.FromContextOrDiscard(ctx).WithName("pipeline")
	for {
		if err := p.rebuild(ctx); err != nil {
			log.Error(err, "Rebuilding the routing model failed; the previous one stays published")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(p.opts.Coalesce):
		}
	}
}

// take returns and clears the pending work.
func (p *Pipeline) take() (all bool, proxies []policy.Key, services, secrets []model.Key) {
	p.mu.Lock()
	defer p.mu.Unlock()
	all = p.all
	for k := range p.pending {
		proxies = append(proxies, k)
	}
	for k := range p.services {
		services = append(services, k)
	}
	for k := range p.secretsC {
		secrets = append(secrets, k)
	}
	p.all, p.pending, p.services, p.secretsC = false, map[policy.Key]bool{}, map[model.Key]bool{}, map[model.Key]bool{}
	return all, proxies, services, secrets
}

func (p *Pipeline) rebuild(ctx context.Context) error {
	all, proxies, services, secrets := p.take()
	if !all && len(proxies) == 0 && len(services) == 0 && len(secrets) == 0 && p.model != nil {
		return nil
	}
	start := time.Now()
	if all {
		proxies = p.d.Inventory().ProxyKeys()
		p.accepted = map[policy.Key]*contourv1.HTTPProxy{}
		p.states = map[string]string{}
	}
	fqdns, err := p.judge(ctx, proxies)
	if err != nil {
		return err
	}
	for _, s := range secrets {
		delete(p.data, s)
		fqdns.Insert(p.indexed(func(ix model.Index) []string { return ix.SecretToFQDNs[s] })...)
	}
	in, err := p.input(ctx)
	if err != nil {
		return err
	}
	full := all || p.model == nil
	if full {
		p.model = model.Build(in, p.opts.Model)
	} else {
		p.model.Rebuild(in, p.opts.Model, sets.List(fqdns)...)
		p.model.RefreshEndpoints(in, services...)
	}
	if err := p.fillSecrets(ctx); err != nil {
		return err
	}
	p.metrics.observeRebuild(full, time.Since(start), len(p.accepted))
	p.metrics.observeStates(p.states)
	if err := p.pub.Publish(ctx, p.model); err != nil {
		return fmt.Errorf("publishing: %w", err)
	}
	return nil
}

// judge re-judges proxies, updates the accepted set, and returns the fqdns to rebuild.
func (p *Pipeline) judge(ctx context.Context, proxies []policy.Key) (sets.Set[string], error) {
	verdicts, err := p.judgeAll(ctx, proxies)
	if err != nil {
		return nil, err
	}
	fqdns := sets.New[string]()
	for i, k := range proxies {
		mk := model.Key{Namespace: k.Namespace, Name: k.Name}
		fqdns.Insert(p.indexed(func(ix model.Index) []string { return ix.ProxyToFQDNs[mk] })...)
		v := verdicts[i]
		obj := p.d.Inventory().Proxy(k)
		if v != nil && obj != nil {
			p.states[k.String()] = v.Status.CurrentStatus
		} else {
			delete(p.states, k.String())
		}
		if v == nil || obj == nil || !v.Accepted() {
			delete(p.accepted, k)
			continue
		}
		p.accepted[k] = obj
		if vh := obj.Spec.VirtualHost; vh != nil {
			fqdns.Insert(strings.ToLower(vh.Fqdn))
		}
	}
	return fqdns, nil
}

// judgeAll judges proxies on every core: the Decider is safe for concurrent use, and a
// full rebuild (start, restart, policy change) judges every stored proxy.
func (p *Pipeline) judgeAll(ctx context.Context, proxies []policy.Key) ([]*policy.Verdict, error) {
	out := make([]*policy.Verdict, len(proxies))
	workers := min(runtime.GOMAXPROCS(0), 1+len(proxies)/64)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(proxies); i += workers {
				v, err := p.d.Judge(ctx, proxies[i])
				if err != nil {
					errs[w] = err
					return
				}
				out[i] = v
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func (p *Pipeline) indexed(f func(model.Index) []string) []string {
	if p.model == nil {
		return nil
	}
	return f(p.model.Index)
}

// input assembles the model's input from the accepted set and the informer cache.
func (p *Pipeline) input(ctx context.Context) (model.Input, error) {
	in := model.NewInput()
	for _, obj := range p.accepted {
		in.Add(obj)
	}
	// The model only reads these: list the informer's objects without copying them (a copy
	// of every Service and EndpointSlice per rebuild dominated rebuild time at scale).
	var svcs corev1.ServiceList
	if err := p.cache.List(ctx, &svcs, client.UnsafeDisableDeepCopy); err != nil {
		return in, fmt.Errorf("listing Services: %w", err)
	}
	for i := range svcs.Items {
		in.Add(&svcs.Items[i])
	}
	var slices discoveryv1.EndpointSliceList
	if err := p.cache.List(ctx, &slices, client.UnsafeDisableDeepCopy); err != nil {
		return in, fmt.Errorf("listing EndpointSlices: %w", err)
	}
	for i := range slices.Items {
		in.Add(&slices.Items[i])
	}
	for _, k := range p.d.Inventory().SecretKeys() {
		in.Secrets.Insert(model.Key{Namespace: k.Namespace, Name: k.Name})
	}
	return in, nil
}

// fillSecrets reads the data of every Secret the model references that it has not read
// since the Secret last changed: one List per namespace with missing data, not one Get per
// Secret (a thousand TLS vhosts after a restart).
func (p *Pipeline) fillSecrets(ctx context.Context) error {
	missing := map[string]bool{}
	for _, s := range p.model.Secrets {
		if _, ok := p.data[s.Name]; !ok {
			missing[s.Name.Namespace] = true
		}
	}
	for ns := range missing {
		var list corev1.SecretList
		if err := p.secrets.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return fmt.Errorf("reading Secrets in %s: %w", ns, err)
		}
		for i := range list.Items {
			k := model.KeyOf(&list.Items[i])
			if p.model.Index.SecretToFQDNs[k] != nil {
				p.data[k] = list.Items[i].Data
			}
		}
	}
	for _, s := range p.model.Secrets {
		s.Data = p.data[s.Name]
	}
	return nil
}
