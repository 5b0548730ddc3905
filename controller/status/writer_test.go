package status_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	policyv1alpha1 "github.com/projectwarden/warden/apis/policy/v1alpha1"
	"github.com/projectwarden/warden/controller/status"
	"github.com/projectwarden/warden/e2e/framework"
	"github.com/projectwarden/warden/policy"
	"github.com/projectwarden/warden/policy/fixture"
	"github.com/projectwarden/warden/watch"
)

// The proxies of TestWriter, all in namespace "team".
var (
	rootKey    = policy.Key{Namespace: "team", Name: "root"}        // root of root.example.com, includes child
	childKey   = policy.Key{Namespace: "team", Name: "child"}       // included by root
	lonelyKey  = policy.Key{Namespace: "team", Name: "lonely"}      // included by nobody: orphaned
	secondKey  = policy.Key{Namespace: "team", Name: "second-root"} // claims root.example.com after root
	brokenKey  = policy.Key{Namespace: "team", Name: "broken"}      // routes to a Service that does not exist
	writerKeys = []policy.Key{rootKey, childKey, lonelyKey, secondKey, brokenKey}
)

// writerHarness is one Writer fed, as in `warden serve`, by a watch.Feed over an informer
// cache, with every event re-syncing every proxy.
type writerHarness struct {
	env     *framework.Env
	ctx     context.Context // carries the test logger
	decider *policy.Decider
	writer  *status.Writer
	reg     *prometheus.Registry
	writes  *writeCounter
	hook    *atomic.Pointer[beforeWrite]
	clock   *settableClock
	held    atomic.Int64 // calls of Options.BeforeWrite
}

func TestWriter(t *testing.T) {
	env := framework.Start(t, framework.WithScheme(contourv1.AddToScheme, policyv1alpha1.AddToScheme))
	create(t, env.Client(),
		fixture.Namespace("team"),
		fixture.Service("team", "web", 80),
		fixture.Proxy("team", "root").FQDN("root.example.com").Route("web", 80).Include("team", "child", fixture.Prefix("/child")).Obj(),
		fixture.Proxy("team", "child").Route("web", 80).Obj(),
		fixture.Proxy("team", "lonely").Route("web", 80).Obj(),
		fixture.Proxy("team", "broken").FQDN("broken.example.com").Route("missing", 80).Obj(),
	)
	// Created after root, and after it by name too should the second be the same: root
	// owns the fqdn either way.
	create(t, env.Client(), fixture.Proxy("team", "second-root").FQDN("root.example.com").Route("web", 80).Obj())

	h := startWriterHarness(t, env)
	t.Run("statuses_reach_what_the_decider_judges", h.testConverge)
	t.Run("a_settled_proxy_is_not_written_again", h.testNoRewrite)
	t.Run("transition_time_moves_only_when_the_condition_status_does", h.testTransitionTime)
	t.Run("a_conflicting_write_is_retried_on_a_fresh_read", h.testConflict)
	t.Run("a_status_of_a_newer_generation_is_not_overwritten", h.testSuperseded)
	t.Run("a_deleted_proxy_is_dropped_and_its_includer_updated", h.testDeleted)
	if n := metricValue(t, h.reg, status.MetricErrors); n != 0 {
		t.Errorf("%s = %v, want 0", status.MetricErrors, n)
	}
}

func startWriterHarness(t *testing.T, env *framework.Env) *writerHarness {
	t.Helper()
	s := newScheme(t)
	h := &writerHarness{
		env: env, ctx: ctrl.LoggerInto(t.Context(), testLogger(t, 1)), decider: newDecider(t),
		reg: prometheus.NewRegistry(), writes: &writeCounter{}, hook: &atomic.Pointer[beforeWrite]{},
		clock: &settableClock{},
	}
	informers, err := cache.New(env.Config(), watch.CacheOptions(s))
	if err != nil {
		t.Fatal(err)
	}
	feed := watch.New(informers, h.decider, watch.Options{
		// Any change may alter any proxy's status (a child's, its includers'); the queue
		// merges the keys. (Writer.Enqueue of what the change affects would be cheaper.)
		OnApplied: func(string, policy.Key) { h.writer.ResyncAll(h.ctx) },
	})
	h.writer = status.NewWriter(h.decider.Judge, informers, status.Options{
		Client:      newWriteClient(t, env, s, h.writes, h.hook),
		Synced:      feed.WaitForSync,
		Registerer:  h.reg,
		Clock:       h.clock,
		BeforeWrite: func(context.Context) { h.held.Add(1) },
	})
	if err := feed.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	cacheCtx, stopCache := context.WithCancel(context.WithoutCancel(h.ctx))
	cacheDone := make(chan error, 1)
	go func() { cacheDone <- informers.Start(cacheCtx) }()
	t.Cleanup(func() {
		stopCache()
		if err := <-cacheDone; err != nil {
			t.Errorf("cache: %v", err)
		}
	})
	runWriter(t, h.ctx, h.writer) // stopped before the cache
	return h
}

func (h *writerHarness) testConverge(t *testing.T) {
	waitSettled(t, h.env.Client(), h.decider, writerKeys)
	type want struct {
		currentStatus string
		valid         metav1.ConditionStatus
		errors        []string // type/reason of each error sub-condition
	}
	cases := map[policy.Key]want{
		rootKey:   {currentStatus: "valid", valid: metav1.ConditionTrue},
		childKey:  {currentStatus: "valid", valid: metav1.ConditionTrue},
		lonelyKey: {currentStatus: "orphaned", valid: metav1.ConditionFalse, errors: []string{"Orphaned/Orphaned"}},
		secondKey: {currentStatus: "invalid", valid: metav1.ConditionFalse, errors: []string{"VirtualHostError/DuplicateVhost"}},
		brokenKey: {currentStatus: "invalid", valid: metav1.ConditionFalse, errors: []string{"ServiceError/ServiceUnresolvedReference"}},
	}
	for k, tc := range cases {
		p := get(t, h.env.Client(), k)
		c := validCondition(p)
		if c == nil {
			t.Errorf("%s: no Valid condition in %+v", k, p.Status)
			continue
		}
		got := want{currentStatus: p.Status.CurrentStatus, valid: c.Status}
		for _, e := range c.Errors {
			got.errors = append(got.errors, e.Type+"/"+e.Reason)
		}
		if diff := cmp.Diff(tc, got, cmp.AllowUnexported(want{})); diff != "" {
			t.Errorf("%s status (-want +got):\n%s", k, diff)
		}
		if c.ObservedGeneration != p.Generation || c.LastTransitionTime.IsZero() {
			t.Errorf("%s: observedGeneration %d (generation %d), lastTransitionTime %v; want the generation and a time",
				k, c.ObservedGeneration, p.Generation, c.LastTransitionTime)
		}
		if n := h.writes.of(k); n != 1 {
			t.Errorf("%s written %d times, want once", k, n)
		}
	}
	if held := h.held.Load(); held < int64(h.writes.total()) || held == 0 {
		t.Errorf("BeforeWrite called %d times for %d writes, want once before each", held, h.writes.total())
	}
	if n := metricValue(t, h.reg, status.MetricWrites); n != float64(h.writes.total()) {
		t.Errorf("%s = %v, want the %d writes the API server accepted", status.MetricWrites, n, h.writes.total())
	}
	if n := metricValue(t, h.reg, status.MetricWriteDuration); n < float64(h.writes.total()) {
		t.Errorf("%s has %v samples, want at least %d", status.MetricWriteDuration, n, h.writes.total())
	}
}

func (h *writerHarness) testNoRewrite(t *testing.T) {
	c := h.env.Client()
	writes, rvs := h.writes.total(), resourceVersions(t, c, writerKeys)
	skips := metricValue(t, h.reg, status.MetricSkips, "reason", "unchanged")
	h.writer.ResyncAll(h.ctx)
	eventually(t, "every proxy is judged again", func() bool {
		return metricValue(t, h.reg, status.MetricSkips, "reason", "unchanged") >= skips+float64(len(writerKeys))
	}, nil)
	if n := h.writes.total(); n != writes {
		t.Errorf("%d status writes after a re-sync of settled proxies, want none", n-writes)
	}
	if diff := cmp.Diff(rvs, resourceVersions(t, c, writerKeys)); diff != "" {
		t.Errorf("resourceVersions changed (-before +after):\n%s", diff)
	}
}

func (h *writerHarness) testTransitionTime(t *testing.T) {
	c := h.env.Client()
	rootBefore := validCondition(get(t, c, rootKey))
	lonelyBefore := validCondition(get(t, c, lonelyKey))
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	h.clock.set(now)
	defer h.clock.set(time.Time{})

	// root includes lonely: lonely turns valid (a transition); root stays valid, at a new
	// generation (no transition).
	update(t, c, rootKey, func(p *contourv1.HTTPProxy) {
		p.Spec.Includes = append(p.Spec.Includes, contourv1.Include{Name: "lonely", Conditions: []contourv1.MatchCondition{fixture.Prefix("/lonely")}})
	})
	waitSettled(t, c, h.decider, writerKeys)

	root, lonely := get(t, c, rootKey), get(t, c, lonelyKey)
	rootAfter, lonelyAfter := validCondition(root), validCondition(lonely)
	if lonely.Status.CurrentStatus != "valid" || lonelyAfter.Status != metav1.ConditionTrue {
		t.Fatalf("lonely once included: %s, Valid=%s; want valid, True", lonely.Status.CurrentStatus, lonelyAfter.Status)
	}
	if !lonelyAfter.LastTransitionTime.Time.Equal(now) || lonelyAfter.LastTransitionTime.Equal(&lonelyBefore.LastTransitionTime) {
		t.Errorf("lonely's lastTransitionTime = %v (was %v), want the clock's %v", lonelyAfter.LastTransitionTime, lonelyBefore.LastTransitionTime, now)
	}
	if rootAfter.ObservedGeneration != root.Generation || rootAfter.ObservedGeneration == rootBefore.ObservedGeneration {
		t.Errorf("root's observedGeneration = %d (was %d), want the new generation %d", rootAfter.ObservedGeneration, rootBefore.ObservedGeneration, root.Generation)
	}
	if !rootAfter.LastTransitionTime.Equal(&rootBefore.LastTransitionTime) {
		t.Errorf("root's lastTransitionTime = %v, want it kept at %v: Valid stayed True", rootAfter.LastTransitionTime, rootBefore.LastTransitionTime)
	}
}

func (h *writerHarness) testConflict(t *testing.T) {
	c := h.env.Client()
	// Just before the Writer's first write to child, another client changes child, so the
	// write carries a stale resourceVersion and the API server refuses it.
	var raced atomic.Bool
	race := beforeWrite(func(ctx context.Context, obj client.Object) {
		if obj.GetName() != childKey.Name || !raced.CompareAndSwap(false, true) {
			return
		}
		p := &contourv1.HTTPProxy{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), p); err != nil {
			t.Errorf("racing write: %v", err)
			return
		}
		p.Annotations = map[string]string{"test": "raced"}
		if err := c.Update(ctx, p); err != nil {
			t.Errorf("racing write: %v", err)
		}
	})
	h.hook.Store(&race)
	defer h.hook.Store(nil)
	conflicts, writes := metricValue(t, h.reg, status.MetricConflicts), h.writes.of(childKey)

	update(t, c, childKey, func(p *contourv1.HTTPProxy) { p.Spec.Routes[0].Services[0].Name = "missing" })
	waitSettled(t, c, h.decider, writerKeys)

	child := get(t, c, childKey)
	if !raced.Load() || child.Annotations["test"] != "raced" {
		t.Fatalf("the racing write did not happen (annotations %v)", child.Annotations)
	}
	if child.Status.CurrentStatus != "invalid" {
		t.Errorf("child routing to a missing Service: %s, want invalid", child.Status.CurrentStatus)
	}
	if n := metricValue(t, h.reg, status.MetricConflicts); n <= conflicts {
		t.Errorf("%s = %v, want more than %v", status.MetricConflicts, n, conflicts)
	}
	if n := h.writes.of(childKey) - writes; n != 1 {
		t.Errorf("child written %d times after the change, want once (after the conflict)", n)
	}
}

func (h *writerHarness) testSuperseded(t *testing.T) {
	c := h.env.Client()
	// A writer that saw a newer generation than this one's cache (here: a forged status)
	// wrote last. The Writer judges the older generation and must leave it alone.
	p := get(t, c, secondKey)
	forged := p.Status.DeepCopy()
	forged.Description = "written from a newer generation"
	forged.Conditions[0].ObservedGeneration = p.Generation + 1
	p.Status = *forged
	superseded := metricValue(t, h.reg, status.MetricSkips, "reason", "superseded")
	if err := c.Status().Update(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Writer sees the forged status", func() bool {
		return metricValue(t, h.reg, status.MetricSkips, "reason", "superseded") > superseded
	}, nil)
	if got := get(t, c, secondKey).Status; got.Description != forged.Description {
		t.Errorf("the forged status was overwritten: %+v", got)
	}

	// Once the stored status no longer claims a newer generation, the Writer rewrites it.
	p = get(t, c, secondKey)
	p.Status = contourv1.HTTPProxyStatus{}
	if err := c.Status().Update(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	waitSettled(t, c, h.decider, writerKeys)
}

func (h *writerHarness) testDeleted(t *testing.T) {
	c := h.env.Client()
	errs, gone := metricValue(t, h.reg, status.MetricErrors), metricValue(t, h.reg, status.MetricSkips, "reason", "gone")
	if err := c.Delete(t.Context(), get(t, c, childKey)); err != nil {
		t.Fatal(err)
	}
	// Until the Decider's informer delivers the deletion, it still judges root valid, and
	// the stored status would already look settled.
	eventually(t, "the Decider forgets the deleted child", func() bool {
		v, err := h.decider.Judge(context.WithoutCancel(t.Context()), childKey)
		if err != nil {
			t.Fatal(err)
		}
		return v == nil
	}, nil)
	keys := []policy.Key{rootKey, lonelyKey, secondKey, brokenKey}
	waitSettled(t, c, h.decider, keys)
	root := get(t, c, rootKey)
	var reasons []string
	for _, e := range validCondition(root).Errors {
		reasons = append(reasons, e.Reason)
	}
	if root.Status.CurrentStatus != "invalid" || !cmp.Equal(reasons, []string{"IncludeNotFound"}) {
		t.Errorf("root including a deleted child: %s, error reasons %v; want invalid, [IncludeNotFound]", root.Status.CurrentStatus, reasons)
	}
	h.writer.Enqueue(childKey)
	eventually(t, "the deleted proxy is dropped", func() bool {
		return metricValue(t, h.reg, status.MetricSkips, "reason", "gone") > gone
	}, nil)
	if n := metricValue(t, h.reg, status.MetricErrors); n != errs {
		t.Errorf("%s went from %v to %v", status.MetricErrors, errs, n)
	}
}
