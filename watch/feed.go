package watch

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"

	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/projectwarden/warden/policy"
)

// Feed keeps a Decider's inventory in step with the cluster. It registers event handlers on
// the informers of a controller-runtime cache and applies every add, update and delete to
// the Decider; the cache itself (its start, its stop, which namespaces it sees) belongs to
// the caller.
//
// Feed is safe for concurrent use. Events of one kind are applied in the order the API
// server sent them; events of different kinds are applied concurrently, in no set order.
type Feed struct {
	informers cache.Informers
	decider   *policy.Decider
	opts      Options

	mu    sync.Mutex // guards state and regs
	state state
	regs  []registration

	errMu        sync.Mutex // guards policyErrors; handlers take it, never mu
	policyErrors map[string]string
}

// Options are the optional settings of a Feed. The zero value is ready to use.
type Options struct {
	// OnApplied, if set, is called after each add, update or delete has been handed to the
	// Decider (whether or not the Decider accepted it), with the object's kind ("HTTPProxy",
	// "TLSCertificateDelegation", "DelegationPolicy", "Namespace", "Service" or "Secret") and
	// key (Namespace empty for cluster-scoped kinds). A controller can use it to requeue what
	// a change affects, knowing that the Decider already sees the change. It is called on the
	// informers' goroutines, concurrently for different kinds, and must not block.
	// Default: nil, no callback.
	OnApplied func(kind string, key policy.Key)
}

// state is where a Feed is in its life.
type state int

const (
	notStarted state = iota
	running
	stopped
)

// registration is one event handler registered on one informer.
type registration struct {
	kind     string
	informer cache.Informer
	handle   toolscache.ResourceEventHandlerRegistration
}

// New returns a Feed that will apply the objects of informers to d once started.
//
// It takes the cache's informers rather than a manager.Manager because it needs nothing
// else: `warden serve` passes mgr.GetCache(), so the webhook, the controller and the Feed
// share one set of informers and the manager keeps starting and stopping them, while tests
// and one-shot commands pass a cache they built with cache.New(cfg, CacheOptions(scheme)).
// The Feed needs no leader election either: every replica serves webhooks, so every
// replica's Decider must see the cluster. The cache's scheme must hold the types NewScheme
// registers, and should use CacheOptions' transform.
func New(informers cache.Informers, d *policy.Decider, opts Options) *Feed {
	return &Feed{informers: informers, decider: d, opts: opts, policyErrors: map[string]string{}}
}

// Start registers the Feed's event handlers on the informers for HTTPProxy,
// TLSCertificateDelegation, DelegationPolicy, Namespace, Service, and Secret metadata
// (metav1.PartialObjectMetadata: Secret data is never requested from the API server, let
// alone read). It returns once the handlers are registered, without waiting for the cache
// to start or sync; use WaitForSync or Ready for that. It may be called before or after the
// cache is started.
//
// ctx must stay live for as long as the Feed runs: the handlers apply changes with it (and
// log with its logger, ctrl.LoggerFrom(ctx)), and when it is done they are removed and Ready
// reports ErrStopped. Start fails if an informer cannot be created, typically because a CRD
// is not installed; it then removes any handler it had registered, and may be called again.
// A second call after a successful one returns ErrAlreadyStarted.
func (f *Feed) Start(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state != notStarted {
		return ErrAlreadyStarted
	}
	log := ctrl.LoggerFrom(ctx).WithName("watch")
	ctx = ctrl.LoggerInto(ctx, log)
	regs := make([]registration, 0, 6)
	for _, k := range f.kinds() {
		r, err := f.register(ctx, k)
		if err != nil {
			removeAll(ctx, regs)
			return err
		}
		regs = append(regs, r)
	}
	f.regs, f.state = regs, running
	log.V(1).Info("watching the cluster", "kinds", len(regs))
	go func() {
		<-ctx.Done()
		f.stop(ctx)
	}()
	return nil
}

func (f *Feed) register(ctx context.Context, k kind) (registration, error) {
	// Not blocking until synced is what lets Start return at once, and lets it run before
	// the cache is started (a blocking GetInformer would wait for a start that never comes).
	inf, err := f.informers.GetInformer(ctx, k.newObject(), cache.BlockUntilSynced(false))
	if err != nil {
		return registration{}, fmt.Errorf("watch: getting the %s informer: %w", k.name, err)
	}
	log := ctrl.LoggerFrom(ctx)
	h, err := inf.AddEventHandlerWithOptions(f.handler(ctx, k), toolscache.HandlerOptions{Logger: &log})
	if err != nil {
		return registration{}, fmt.Errorf("watch: registering the %s handler: %w", k.name, err)
	}
	return registration{kind: k.name, informer: inf, handle: h}, nil
}

// stop removes the handlers once Start's context is done.
func (f *Feed) stop(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	removeAll(ctx, f.regs)
	f.regs, f.state = nil, stopped
	ctrl.LoggerFrom(ctx).V(1).Info("stopped watching the cluster")
}

func removeAll(ctx context.Context, regs []registration) {
	for _, r := range regs {
		if err := r.informer.RemoveEventHandler(r.handle); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "cannot remove event handler", "kind", r.kind)
		}
	}
}

// WaitForSync blocks until every informer has synced and the Feed has applied every object
// of their initial lists to the Decider (client-go's HasSynced of each handler
// registration), and then returns true. It returns false when ctx is done first, and at
// once when the Feed is not running.
//
// Events that arrive after the initial lists are applied as they come; being synced means
// the Decider has seen the cluster as it was when the informers listed it, not that no
// change is in flight.
func (f *Feed) WaitForSync(ctx context.Context) bool {
	f.mu.Lock()
	regs, st := f.regs, f.state
	f.mu.Unlock()
	if st != running {
		return false
	}
	for _, r := range regs {
		select {
		case <-r.handle.HasSyncedChecker().Done():
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// Ready returns nil once the Feed is synced (see WaitForSync), for a readiness check. Until
// then it returns ErrNotStarted, or an error wrapping ErrNotSynced that names the kinds not
// synced yet; after Start's context is done it returns ErrStopped. A DelegationPolicy that
// fails to compile does not make the Feed unready: the previously active policies stay in
// force and PolicyErrors reports it.
func (f *Feed) Ready() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch f.state {
	case notStarted:
		return ErrNotStarted
	case stopped:
		return ErrStopped
	}
	var pending []string
	for _, r := range f.regs {
		if !r.handle.HasSynced() {
			pending = append(pending, r.kind)
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("%w: %s", ErrNotSynced, strings.Join(pending, ", "))
	}
	return nil
}

// PolicyErrors returns, by DelegationPolicy name, why the latest version of each stored
// policy that the Decider refused could not be activated (it does not compile, breaks the
// decision contract or fails its tests). A policy leaves the map when a later version is
// activated or when it is deleted. The result is a copy the caller may keep and modify.
func (f *Feed) PolicyErrors() map[string]string {
	f.errMu.Lock()
	defer f.errMu.Unlock()
	return maps.Clone(f.policyErrors)
}

func (f *Feed) setPolicyError(name string, err error) {
	f.errMu.Lock()
	defer f.errMu.Unlock()
	if err == nil {
		delete(f.policyErrors, name)
		return
	}
	f.policyErrors[name] = err.Error()
}
