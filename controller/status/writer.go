package status

import (
	"context"
	"fmt"
	"sync"
	"time"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/projectwarden/warden/policy"
)

// Defaults of Options.
const (
	DefaultWorkers    = 4
	DefaultBatchDelay = 20 * time.Millisecond
)

// Retry delays of a key whose pass failed or found the Decider behind the object read
// (per key, doubling from the first to the second).
const (
	retryBaseDelay = 5 * time.Millisecond
	retryMaxDelay  = time.Minute
)

// Options are the settings of a Writer. Client is required; every other field has a
// default.
type Options struct {
	// Client writes the status through the status subresource (Status().Update) and, after
	// the API server refuses a write with a conflict, re-reads the object with Get before
	// recomputing. Give it a client whose reads go to the API server (client.New, not the
	// manager's cache-backed client): re-reading from a cache that has not caught up yet
	// would only conflict again. Its rate limits (rest.Config QPS and Burst) are the
	// caller's. Required.
	Client client.Client
	// Workers is how many proxies are judged and written at once. A proxy is never
	// handled by two workers at the same time. Default: DefaultWorkers (4).
	Workers int
	// BatchDelay is how long Enqueue waits before a proxy is handled, so that a burst of
	// changes touching the same proxy (a root and its children applied together, a
	// Namespace relabelled) costs one judgement and at most one write. Negative: none.
	// Default: DefaultBatchDelay (20ms).
	BatchDelay time.Duration
	// Synced, if set, is waited for by Start before it judges anything: a Decider that has
	// not seen the whole cluster yet would call reachable proxies orphaned and write that.
	// Pass the Feed's WaitForSync. It must return true once synced and false when its
	// context is done (Start then returns nil) or when it never will be (Start then
	// returns ErrNotSynced). Default: nil, no wait.
	Synced func(ctx context.Context) bool
	// Registerer receives the metrics (see the Metric constants). Default: nil, the
	// metrics are kept but not registered.
	Registerer prometheus.Registerer
	// BeforeWrite, if set, is called before each status write, which waits for it to
	// return: it lets more urgent API requests go first (serve passes the pipeline's
	// WaitForSecretReads, so that Envoys get a new vhost's certificate before its status is
	// written). It must return soon, and when ctx is done. Default: nil, no wait.
	BeforeWrite func(ctx context.Context)
	// Clock stamps LastTransitionTime and times the writes. Only Now and Since are used,
	// so any clock.Clock will do (a fake one makes transition times exact in tests). The
	// work queue's delays (BatchDelay, retries) run on the real clock: a frozen fake clock
	// must not stall them. Default: clock.RealClock{}.
	Clock clock.PassiveClock
}

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.BatchDelay == 0 {
		o.BatchDelay = DefaultBatchDelay
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	return o
}

// Writer writes HTTPProxy status from the Decider's verdicts, on the leader only. It is a
// manager.Runnable that needs leader election (see the package documentation).
//
// Keys go through a client-go rate-limited work queue, which merges the keys enqueued
// while a proxy waits and guarantees that no two workers handle one proxy at once. A
// worker reads the proxy from the reader, judges it, and writes the status only if it
// differs from the stored one (transition times aside); it retries conflicts on a fresh
// read, drops proxies that no longer exist and never replaces a status that describes a
// newer generation than the one judged.
//
// Writer is safe for concurrent use.
type Writer struct {
	judge   func(ctx context.Context, k policy.Key) (*policy.Verdict, error)
	reader  client.Reader
	opts    Options
	metrics *metrics
	err     error // from NewWriter; Start returns it

	mu    sync.RWMutex                                     // guards queue
	queue workqueue.TypedRateLimitingInterface[policy.Key] // nil unless Start is running
}

// NewWriter returns a Writer that judges proxies with judge (policy.Decider.Judge) and reads
// them from reader (the informer cache the Decider is fed from, so that the two agree on
// which generation of each proxy they see). It does nothing until Start.
//
// A nil judge or reader, a missing Options.Client or metrics that cannot be registered
// make Start fail with an error wrapping ErrMisconfigured.
func NewWriter(judge func(ctx context.Context, k policy.Key) (*policy.Verdict, error), reader client.Reader, o Options) *Writer {
	w := &Writer{judge: judge, reader: reader, opts: o.withDefaults()}
	var err error
	w.metrics, err = newMetrics(o.Registerer)
	switch {
	case err != nil:
		w.metrics, _ = newMetrics(nil)
		w.err = fmt.Errorf("%w: %w", ErrMisconfigured, err)
	case judge == nil || reader == nil || o.Client == nil:
		w.err = fmt.Errorf("%w: NewWriter needs a judge, a reader and Options.Client", ErrMisconfigured)
	}
	return w
}

// NeedLeaderElection returns true: a controller-runtime manager with leader election runs
// the Writer only on the leader, so only one replica writes status.
func (w *Writer) NeedLeaderElection() bool { return true }

// Enqueue asks for the status of the proxy k to be brought up to date, after BatchDelay.
// It returns at once; keys enqueued again before the proxy is handled are merged.
//
// Before Start, and after Start has returned, Enqueue does nothing: a replica that does not
// lead keeps no backlog, and Start begins by re-syncing every proxy anyway.
func (w *Writer) Enqueue(k policy.Key) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.queue == nil {
		return
	}
	if w.opts.BatchDelay > 0 {
		w.queue.AddAfter(k, w.opts.BatchDelay)
		return
	}
	w.queue.Add(k)
}

// ResyncAll enqueues every HTTPProxy in the reader. Start calls it first, so that a new
// leader brings every status up to date; a caller may call it after a change whose
// effects it cannot tell (a DelegationPolicy activated, say). Like Enqueue it does nothing
// unless Start is running. A failure to list is logged.
func (w *Writer) ResyncAll(ctx context.Context) {
	if err := w.resyncAll(ctx); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "cannot re-sync HTTPProxy status")
	}
}

func (w *Writer) resyncAll(ctx context.Context) error {
	if !w.running() {
		return nil
	}
	var list contourv1.HTTPProxyList
	// Only the names are read, so the cache need not copy every proxy.
	if err := w.reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("status: listing HTTPProxies: %w", err)
	}
	for i := range list.Items {
		w.Enqueue(policy.Key{Namespace: list.Items[i].Namespace, Name: list.Items[i].Name})
	}
	ctrl.LoggerFrom(ctx).V(2).Info("re-syncing HTTPProxy status", "count", len(list.Items))
	return nil
}

func (w *Writer) running() bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.queue != nil
}

// Start waits for Options.Synced, re-syncs every proxy (ResyncAll) and writes status with
// Options.Workers workers until ctx is done; then it stops taking keys, waits for the
// writes in flight (whose requests ctx cancels) and returns nil. It returns an error
// without writing anything if the Writer is misconfigured, if the Decider never syncs
// (ErrNotSynced) or if the first re-sync cannot list the proxies. The Writer may be
// started again after Start has returned, with an empty queue.
//
// The manager calls Start when this replica becomes the leader and cancels ctx when it
// stops leading. Start logs with ctrl.LoggerFrom(ctx).
func (w *Writer) Start(ctx context.Context) error {
	if w.err != nil {
		return w.err
	}
	log := ctrl.LoggerFrom(ctx).WithName("status")
	ctx = ctrl.LoggerInto(ctx, log)

	q := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[policy.Key](retryBaseDelay, retryMaxDelay),
		workqueue.TypedRateLimitingQueueConfig[policy.Key]{},
	)
	w.mu.Lock()
	if w.queue != nil {
		w.mu.Unlock()
		q.ShutDown()
		return ErrAlreadyStarted
	}
	// From here on events are queued: whatever changes after the re-sync lists the cache
	// is enqueued by the caller, whatever changed before is in the list.
	w.queue = q
	w.mu.Unlock()
	var wg sync.WaitGroup
	defer func() {
		w.mu.Lock()
		w.queue = nil
		w.mu.Unlock()
		q.ShutDown()
		wg.Wait()
	}()

	if w.opts.Synced != nil && !w.opts.Synced(ctx) {
		if ctx.Err() != nil {
			return nil
		}
		return ErrNotSynced
	}
	for range w.opts.Workers {
		wg.Go(func() {
			for w.processNext(ctx, q) {
			}
		})
	}
	if err := w.resyncAll(ctx); err != nil {
		return err
	}
	log.Info("writing HTTPProxy status", "workers", w.opts.Workers)
	<-ctx.Done()
	log.Info("stopped writing HTTPProxy status")
	return nil
}

// processNext handles one key from q; it returns false once q is shut down.
func (w *Writer) processNext(ctx context.Context, q workqueue.TypedRateLimitingInterface[policy.Key]) bool {
	k, shutdown := q.Get()
	if shutdown {
		return false
	}
	defer q.Done(k)
	again, err := w.sync(ctx, k)
	switch {
	case err != nil && ctx.Err() != nil:
		// Stopping: the request was cancelled, not refused. The next leader re-syncs.
		q.Forget(k)
	case err != nil:
		w.metrics.errors.Inc()
		ctrl.LoggerFrom(ctx).Error(err, "cannot write HTTPProxy status", "httpproxy", klog.KRef(k.Namespace, k.Name))
		if terminal(err) {
			q.Forget(k) // the same status would be refused again; a change enqueues it anew
			return true
		}
		q.AddRateLimited(k)
	case again:
		q.AddRateLimited(k)
	default:
		q.Forget(k)
	}
	return true
}

// terminal reports whether retrying the same write cannot help: the API server refused
// the status itself, not the moment.
func terminal(err error) bool {
	return apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)
}

// sync brings the status of one proxy up to date. It returns again when the Decider has
// not judged the generation of the proxy that was read yet, so that the key comes back
// after a short delay.
func (w *Writer) sync(ctx context.Context, k policy.Key) (again bool, err error) {
	key := client.ObjectKey{Namespace: k.Namespace, Name: k.Name}
	p := &contourv1.HTTPProxy{}
	if err := w.reader.Get(ctx, key, p); err != nil {
		if apierrors.IsNotFound(err) {
			w.skipped(gone)
			return false, nil
		}
		return false, fmt.Errorf("reading HTTPProxy %s: %w", k, err)
	}
	var result outcome
	reread := false
	err = retryOnConflict(func() error {
		if reread {
			// The cached copy lost the race; the API server has the one to write over.
			p = &contourv1.HTTPProxy{}
			if err := w.opts.Client.Get(ctx, key, p); err != nil {
				return err
			}
		}
		reread = true
		var err error
		result, err = w.writeOnce(ctx, k, p)
		return err
	})
	switch {
	case apierrors.IsNotFound(err):
		result, err = gone, nil
	case err != nil:
		return false, err
	}
	if result != write {
		w.skipped(result)
	}
	return result == stale, nil
}

// retryOnConflict calls f until it returns anything but a conflict, a few times at most
// (client-go's retry.DefaultRetry: 5 tries, about 10ms apart).
func retryOnConflict(f func() error) error { return retry.RetryOnConflict(retry.DefaultRetry, f) }

// writeOnce judges p and writes its status if it changed. It returns what it did.
func (w *Writer) writeOnce(ctx context.Context, k policy.Key, p *contourv1.HTTPProxy) (outcome, error) {
	v, err := w.judge(ctx, k)
	if err != nil {
		return 0, fmt.Errorf("judging HTTPProxy %s: %w", k, err)
	}
	if v == nil {
		// Deleted, or not applied to the Decider yet: the Feed's event will enqueue it.
		return gone, nil
	}
	now := metav1.NewTime(w.opts.Clock.Now()).Rfc3339Copy() // as the API server stores it
	want, o := desiredStatus(p, v, now)
	if o != write {
		return o, nil
	}
	if w.opts.BeforeWrite != nil {
		w.opts.BeforeWrite(ctx)
	}
	upd := p.DeepCopy() // p may be shared with the cache
	upd.Status = want
	start := w.opts.Clock.Now()
	err = w.opts.Client.Status().Update(ctx, upd)
	w.metrics.writeDuration.Observe(w.opts.Clock.Since(start).Seconds())
	if err != nil {
		if apierrors.IsConflict(err) {
			w.metrics.conflicts.Inc()
		}
		return 0, err // wrapping would hide the conflict from retryOnConflict
	}
	w.metrics.writes.Inc()
	ctrl.LoggerFrom(ctx).V(1).Info("wrote HTTPProxy status", "httpproxy", klog.KRef(k.Namespace, k.Name),
		"currentStatus", want.CurrentStatus, "generation", p.Generation)
	return write, nil
}

func (w *Writer) skipped(o outcome) { w.metrics.skips.WithLabelValues(o.String()).Inc() }
