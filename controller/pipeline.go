package controller

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/go-logr/logr"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/util/sets"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/projectwarden/warden/controller/model"
	"github.com/projectwarden/warden/policy"
)

// DefaultCoalesce is the shortest quiet time the pipeline keeps after a rebuild before the
// next one: during a burst (a kubectl apply of many objects) changes that arrive within it
// become one rebuild. A change that finds the pipeline idle is rebuilt at once.
const DefaultCoalesce = 20 * time.Millisecond

// DefaultMaxCoalesce is the longest quiet time: while changes keep coming (a bulk create of
// thousands of objects), the quiet time doubles after each rebuild up to this, so that
// Envoys receive a few large updates a second rather than fifty small ones. Every update
// of a state-of-the-world client carries all its clusters and listeners: at fifty a second
// during a bulk create of 5,000 HTTPProxies the ADS client fell seconds behind.
const DefaultMaxCoalesce = 300 * time.Millisecond

// Publisher receives every new model. It must not modify it.
type Publisher interface {
	Publish(ctx context.Context, m *model.Model) error
}

// Options configure a Pipeline.
type Options struct {
	// Model settings (permitInsecure, fallback certificate).
	Model model.Options
	// Coalesce is the shortest quiet time after a rebuild during which changes wait to be
	// batched. Default DefaultCoalesce.
	Coalesce time.Duration
	// MaxCoalesce is the longest quiet time, reached during a sustained burst of changes.
	// Default DefaultMaxCoalesce (at least Coalesce).
	MaxCoalesce time.Duration
	// Verdicts, if set, judges proxies (shared with the status writer, so that a proxy is
	// judged once per change). Default: the Decider's Judge, uncached.
	Verdicts *Verdicts
	// Registerer receives the pipeline's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Pipeline keeps the accepted set and the routing model current. Its model input is kept up
// to date one object at a time (Enqueue, Touch and the informer handlers of Watch), so that
// the work of a rebuild is proportional to what changed, not to the cluster.
type Pipeline struct {
	d       *policy.Decider
	secrets client.Reader // reads Secret data of referenced certificates
	pub     Publisher
	opts    Options
	metrics *metrics
	judgeFn func(ctx context.Context, k policy.Key) (*policy.Verdict, error)

	mu      sync.Mutex
	work    work
	wake    chan struct{}
	watched []toolscache.ResourceEventHandlerRegistration // Watch's handlers

	published     chan struct{} // closed after the first successful publication
	publishedOnce sync.Once

	lastEvents int // changes taken by the last rebuild; owned by the run loop

	// Owned by the run loop.
	in         model.Input                                   // the accepted set and what it references
	roots      map[string]map[model.Key]*contourv1.HTTPProxy // accepted roots by lower-cased fqdn
	sliceOwner map[model.Key]model.Key                       // EndpointSlice -> the Service it is filed under
	states     stateCounts
	model      *model.Model
	secretData secretData
	reads      *readGate // background Secret reads in flight (WaitForSecretReads)
}

// New returns a Pipeline. secrets reads the data of Secrets the model references (Warden
// watches only Secret metadata). Call Watch before Start.
func New(d *policy.Decider, secrets client.Reader, pub Publisher, o Options) (*Pipeline, error) {
	if o.Coalesce <= 0 {
		o.Coalesce = DefaultCoalesce
	}
	if o.MaxCoalesce <= 0 {
		o.MaxCoalesce = DefaultMaxCoalesce
	}
	o.MaxCoalesce = max(o.MaxCoalesce, o.Coalesce)
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{d: d, secrets: secrets, pub: pub, opts: o, metrics: m, judgeFn: d.Judge,
		work: newWork(), wake: make(chan struct{}, 1), published: make(chan struct{}),
		in: model.NewInput(), roots: map[string]map[model.Key]*contourv1.HTTPProxy{},
		sliceOwner: map[model.Key]model.Key{}, states: newStateCounts(), secretData: newSecretData(), reads: newReadGate()}
	p.work.all = true
	if o.Verdicts != nil {
		p.judgeFn = o.Verdicts.Judge
	}
	return p, nil
}

// Enqueue asks for the proxies keys to be judged again and the vhosts they belong to
// rebuilt: the caller learnt that one change may have altered their verdicts (see
// Changes). One call is one change for the pacing of rebuilds (see pacer).
func (p *Pipeline) Enqueue(keys ...policy.Key) {
	p.mu.Lock()
	for _, k := range keys {
		p.work.proxies[k] = true
	}
	p.work.note()
	p.mu.Unlock()
	p.poke()
}

// Touch tells the pipeline that the stored proxy k changed in a way that alters neither its
// verdict nor its spec (a status write): the pipeline takes the new object in place of the
// one it holds, so that the informer's old copy is not kept alive, without rebuilding.
func (p *Pipeline) Touch(k policy.Key) {
	p.mu.Lock()
	p.work.touched[k] = true
	p.mu.Unlock()
	p.poke()
}

// ResyncAll asks for every stored proxy to be judged again and the model rebuilt from
// scratch: after a change whose effects cannot be told (a Namespace's labels, an admin
// policy). The context is unused; it matches status.Writer's.
func (p *Pipeline) ResyncAll(context.Context) {
	p.mu.Lock()
	p.work.all = true
	p.mu.Unlock()
	p.poke()
}

// onlyTouched reports whether all the pending work is touches (see Touch).
func (p *Pipeline) onlyTouched() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.work
	w.touched = nil
	return len(p.work.touched) > 0 && w.empty()
}

func (p *Pipeline) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// SecretReadWait is the longest WaitForSecretReads holds a caller back.
const SecretReadWait = 250 * time.Millisecond

// WaitForSecretReads returns once no Secret data is being read for a TLS vhost that waits
// for its certificate, after SecretReadWait at most, or when ctx is done. The status writer
// calls it before each write, so that Envoys get a new vhost's HTTPS before its status is
// written: both queue in the API server, and during a bulk create of TLS roots the status
// writes outnumber the reads a hundred to one.
func (p *Pipeline) WaitForSecretReads(ctx context.Context) { p.reads.wait(ctx, SecretReadWait) }

// NeedLeaderElection is false: every replica serves xDS.
func (p *Pipeline) NeedLeaderElection() bool { return false }

// Published is closed once the first model has been published: from then on the
// Publisher's consumers hold a complete configuration.
func (p *Pipeline) Published() <-chan struct{} { return p.published }

// Start rebuilds after changes until ctx ends. The first build happens once the handlers
// of Watch have seen every object (the caller starts Start after the Decider has synced).
//
// A change that finds the pipeline idle is rebuilt at once; changes that arrive while a
// rebuild runs, or within the quiet time after it, wait for the quiet time to end and are
// rebuilt together (see pacer).
func (p *Pipeline) Start(ctx context.Context) error {
	log := logr.FromContextOrDiscard(ctx).WithName("pipeline")
	ctx = logr.NewContext(ctx, log)
	if !p.waitWatched(ctx) {
		return nil
	}
	pace := pacer{min: p.opts.Coalesce, max: p.opts.MaxCoalesce}
	for {
		did, err := p.rebuild(ctx)
		if err != nil {
			log.Error(err, "Rebuilding the routing model failed; the previous one stays published; retrying from scratch", "after", retryFetchAfter)
			p.mu.Lock()
			p.work.all = true
			p.mu.Unlock()
			time.AfterFunc(retryFetchAfter, p.poke)
		}
		if did {
			pace.rebuilt(time.Now(), p.lastEvents)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
		}
		// Status writes come back as touches, thousands at the end of a bulk create; they
		// need no rebuild, so they neither wait for the quiet time nor start one that a
		// real change would then wait out.
		if p.onlyTouched() {
			continue
		}
		if wait := pace.wait(time.Now()); wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
	}
}

// pacer decides when a change is rebuilt. A change seen min or more after the last
// rebuild ended found the pipeline idle: it is rebuilt at once. A change seen sooner waits
// until the quiet time after that rebuild has passed. The quiet time doubles (up to max)
// after each rebuild of several changes that had waited so, and falls back to min after a
// rebuild of a single change: a client that applies one change at a time and waits for it
// (a test, a pipeline) never waits more than min, a bulk create is batched ever longer.
type pacer struct {
	min, max time.Duration
	quiet    time.Duration // the quiet time after the last rebuild
	end      time.Time     // when the last rebuild that did something ended
	burst    bool          // the change being waited for came within min of that rebuild
}

// wait returns how long a change seen at now waits before it is rebuilt.
func (c *pacer) wait(now time.Time) time.Duration {
	c.burst = !c.end.IsZero() && now.Sub(c.end) < c.min
	if !c.burst {
		return 0
	}
	return c.end.Add(c.quiet).Sub(now)
}

// rebuilt records the end of a rebuild that changed something, after changes events
// (none when only Secret data read in the background arrived: the pace stays).
func (c *pacer) rebuilt(end time.Time, changes int) {
	switch {
	case changes == 0:
	case c.burst && changes > 1:
		c.quiet = min(2*c.quiet, c.max)
	default:
		c.quiet = c.min
	}
	c.end = end
}

// waitWatched waits until the informer handlers of Watch have seen every object.
func (p *Pipeline) waitWatched(ctx context.Context) bool {
	p.mu.Lock()
	regs := p.watched
	p.mu.Unlock()
	for _, r := range regs {
		select {
		case <-r.HasSyncedChecker().Done():
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// take returns and clears the pending work.
func (p *Pipeline) take() work {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.work
	p.work = newWork()
	return w
}

// rebuild brings the model up to date with the pending work and publishes it. It reports
// whether it rebuilt anything.
func (p *Pipeline) rebuild(ctx context.Context) (bool, error) {
	w := p.take()
	p.lastEvents = w.events
	full := w.all || p.model == nil
	if !full && w.empty() {
		return false, nil
	}
	start := time.Now()
	fqdns, endpoints := p.applyObjects(w)
	proxies := keys(w.proxies)
	if full {
		proxies = p.d.Inventory().ProxyKeys()
		p.resetAccepted()
	}
	judged, err := p.judge(ctx, proxies)
	if err != nil {
		return false, err
	}
	judging := time.Since(start)
	fqdns = fqdns.Union(judged)
	p.applyTouched(w.touched, w.proxies)
	newData := p.secretData.arrived(w.fetched)
	if !full && fqdns.Len() == 0 && len(endpoints) == 0 && !newData {
		if len(w.fetched) > 0 {
			return false, p.fillSecrets(ctx, false) // a read was superseded or failed: read again
		}
		return false, nil // nothing the model shows changed
	}
	if full {
		p.model = model.Build(p.fullInput(), p.opts.Model)
	} else {
		p.model.Rebuild(p.inputFor(fqdns), p.opts.Model, sets.List(fqdns)...)
		p.model.RefreshEndpoints(p.in, endpoints...)
	}
	if err := p.fillSecrets(ctx, full); err != nil {
		return true, err
	}
	built := time.Since(start)
	p.metrics.observeRebuild(full, built, len(p.in.Proxies))
	p.metrics.observeStates(p.states.counts)
	if err := p.pub.Publish(ctx, p.model); err != nil {
		return true, fmt.Errorf("publishing: %w", err)
	}
	p.publishedOnce.Do(func() { close(p.published) })
	var waited time.Duration
	if !w.since.IsZero() {
		waited = start.Sub(w.since)
	}
	logr.FromContextOrDiscard(ctx).V(1).Info("published the routing model", "full", full, "waited", waited, "judged", len(proxies),
		"vhosts", fqdns.Len(), "endpoints", len(endpoints), "judging", judging, "building", built-judging,
		"publishing", time.Since(start)-built, "secretReads", len(p.secretData.inflight))
	return true, nil
}

// judgeAll judges proxies on every core: the Decider is safe for concurrent use, and a
// full rebuild (start, restart, policy change) judges every stored proxy.
func (p *Pipeline) judgeAll(ctx context.Context, proxies []policy.Key) ([]*policy.Verdict, error) {
	out := make([]*policy.Verdict, len(proxies))
	workers := min(runtime.GOMAXPROCS(0), 1+len(proxies)/64)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(proxies); i += workers {
				v, err := p.judgeFn(ctx, proxies[i])
				if err != nil {
					errs[w] = err
					return
				}
				out[i] = v
			}
		})
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

func keys[K comparable](m map[K]bool) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
