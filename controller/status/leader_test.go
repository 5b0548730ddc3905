package status_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	policyv1alpha1 "github.com/projectwarden/warden/apis/policy/v1alpha1"
	"github.com/projectwarden/warden/controller/status"
	"github.com/projectwarden/warden/e2e/framework"
	"github.com/projectwarden/warden/policy"
	"github.com/projectwarden/warden/policy/fixture"
	"github.com/projectwarden/warden/watch"
)

// Leader election timings: short, so that a failover takes seconds.
const (
	leaseDuration = 2 * time.Second
	renewDeadline = 1500 * time.Millisecond
	retryPeriod   = 200 * time.Millisecond
)

// quietPeriod is how long a settled cluster is watched for writes that should not come.
const quietPeriod = 5 * retryPeriod

// replica is one Warden replica as `warden serve` runs it: a controller-runtime manager
// with leader election, whose cache feeds a Decider, and a status Writer added to it.
type replica struct {
	name    string
	mgr     manager.Manager
	decider *policy.Decider
	writer  *status.Writer
	reg     *prometheus.Registry
	writes  *writeCounter

	stop     context.CancelFunc
	done     chan error
	stopOnce sync.Once
	stopErr  error
}

// startReplica starts a replica until the test ends or shutdown is called.
// releaseOnCancel is the manager's LeaderElectionReleaseOnCancel.
func startReplica(t *testing.T, env *framework.Env, name string, releaseOnCancel bool) *replica {
	t.Helper()
	s := newScheme(t)
	log := testLogger(t, 0).WithName(name)
	r := &replica{name: name, decider: newDecider(t), reg: prometheus.NewRegistry(), writes: &writeCounter{}, done: make(chan error, 1)}
	mgr, err := ctrl.NewManager(env.Config(), manager.Options{
		Scheme:                        s,
		Cache:                         watch.CacheOptions(s),
		Logger:                        log,
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		LeaderElection:                true,
		LeaderElectionID:              "warden-status",
		LeaderElectionNamespace:       "default",
		LeaderElectionReleaseOnCancel: releaseOnCancel,
		LeaseDuration:                 ptr.To(leaseDuration),
		RenewDeadline:                 ptr.To(renewDeadline),
		RetryPeriod:                   ptr.To(retryPeriod),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.mgr = mgr
	ctx, stop := context.WithCancel(ctrl.LoggerInto(context.WithoutCancel(t.Context()), log))
	r.stop = stop
	feed := watch.New(mgr.GetCache(), r.decider, watch.Options{
		OnApplied: func(string, policy.Key) { r.writer.ResyncAll(ctx) },
	})
	r.writer = status.NewWriter(r.decider.Judge, mgr.GetCache(), status.Options{
		Client:     newWriteClient(t, env, s, r.writes, nil),
		Synced:     feed.WaitForSync,
		Registerer: r.reg,
	})
	if err := mgr.Add(r.writer); err != nil {
		t.Fatal(err)
	}
	if err := feed.Start(ctx); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- mgr.Start(ctx) }()
	t.Cleanup(func() { r.shutdown() })
	return r
}

// shutdown stops the replica's manager and waits for it; it returns what Start returned.
func (r *replica) shutdown() error {
	r.stopOnce.Do(func() {
		r.stop()
		r.stopErr = <-r.done
	})
	return r.stopErr
}

// elected reports whether the replica leads.
func (r *replica) elected() bool {
	select {
	case <-r.mgr.Elected():
		return true
	default:
		return false
	}
}

// writesTo returns how many status writes r made to keys.
func (r *replica) writesTo(keys []policy.Key) int {
	n := 0
	for _, k := range keys {
		n += r.writes.of(k)
	}
	return n
}

func TestLeaderElection(t *testing.T) {
	env := framework.Start(t, framework.WithScheme(contourv1.AddToScheme, policyv1alpha1.AddToScheme))
	cases := map[string]struct {
		namespace       string
		releaseOnCancel bool
	}{
		// The leader hands the Lease over as it stops (Contour's and Warden's setting).
		"leader_releases_the_lease": {namespace: "release", releaseOnCancel: true},
		// The leader stops without a word, as if it crashed: the Lease must expire first.
		"lease_expires": {namespace: "expiry", releaseOnCancel: false},
	}
	// One case after the other: they share the Lease.
	for _, name := range []string{"leader_releases_the_lease", "lease_expires"} {
		tc := cases[name]
		t.Run(name, func(t *testing.T) { testFailover(t, env, tc.namespace, tc.releaseOnCancel) })
	}
}

func testFailover(t *testing.T, env *framework.Env, ns string, releaseOnCancel bool) {
	c := env.Client()
	root, a, b, orphan := policy.Key{Namespace: ns, Name: "root"}, policy.Key{Namespace: ns, Name: "a"},
		policy.Key{Namespace: ns, Name: "b"}, policy.Key{Namespace: ns, Name: "orphan"}
	keys := []policy.Key{root, a, b, orphan}
	create(t, c,
		fixture.Namespace(ns),
		fixture.Service(ns, "web", 80),
		fixture.Proxy(ns, "root").FQDN(ns+".example.com").Include(ns, "a", fixture.Prefix("/a")).Include(ns, "b", fixture.Prefix("/b")).Obj(),
		fixture.Proxy(ns, "a").Route("web", 80).Obj(),
		fixture.Proxy(ns, "b").Route("web", 80).Obj(),
		fixture.Proxy(ns, "orphan").Route("web", 80).Obj(),
	)

	replicas := []*replica{startReplica(t, env, "a", releaseOnCancel), startReplica(t, env, "b", releaseOnCancel)}
	start := time.Now()
	eventually(t, "a replica is elected", func() bool { return replicas[0].elected() || replicas[1].elected() }, nil)
	leader, follower := replicas[0], replicas[1]
	if follower.elected() {
		leader, follower = follower, leader
	}
	t.Logf("replica %s elected after %v", leader.name, time.Since(start).Round(time.Millisecond))

	// The leader writes every status; the follower judges nothing and writes nothing.
	waitSettled(t, c, leader.decider, keys)
	t.Logf("statuses settled %v after the replicas started", time.Since(start).Round(time.Millisecond))
	if got := get(t, c, orphan).Status.CurrentStatus; got != "orphaned" {
		t.Errorf("%s: %s, want orphaned", orphan, got)
	}
	if n := leader.writesTo(keys); n != len(keys) {
		t.Errorf("leader %s wrote %d statuses, want %d (one per proxy)", leader.name, n, len(keys))
	}
	assertIdle(t, follower)
	rvs := resourceVersions(t, c, keys)
	time.Sleep(quietPeriod)
	if diff := cmp.Diff(rvs, resourceVersions(t, c, keys)); diff != "" {
		t.Errorf("settled proxies changed while both replicas ran (-before +after):\n%s", diff)
	}
	assertIdle(t, follower)
	if follower.elected() {
		t.Fatalf("both replicas lead")
	}

	// The leader stops; the follower takes over and re-syncs everything, which the old
	// leader's statuses already are: nothing is written.
	leaderWrites := leader.writes.total()
	stopped := time.Now()
	if err := leader.shutdown(); err != nil {
		t.Logf("leader %s: manager returned %v", leader.name, err)
	}
	shutdown := time.Since(stopped)
	eventually(t, "the follower takes over", follower.elected, nil)
	t.Logf("failover: replica %s leads %v after the leader was told to stop (its shutdown took %v)",
		follower.name, time.Since(stopped).Round(time.Millisecond), shutdown.Round(time.Millisecond))
	all := countProxies(t, env)
	eventually(t, "the new leader re-syncs every proxy", func() bool {
		return metricValue(t, follower.reg, status.MetricSkips, "reason", "unchanged") >= float64(all)
	}, nil)
	if n := follower.writes.total(); n != 0 {
		t.Errorf("new leader %s rewrote %d settled statuses, want none", follower.name, n)
	}
	if diff := cmp.Diff(rvs, resourceVersions(t, c, keys)); diff != "" {
		t.Errorf("settled proxies changed across the failover (-before +after):\n%s", diff)
	}

	// Status keeps converging under the new leader: root includes orphan.
	changed := time.Now()
	update(t, c, root, func(p *contourv1.HTTPProxy) {
		p.Spec.Includes = append(p.Spec.Includes, contourv1.Include{Name: "orphan", Conditions: []contourv1.MatchCondition{fixture.Prefix("/orphan")}})
	})
	waitSettled(t, c, follower.decider, keys)
	t.Logf("a change after the failover reached status in %v", time.Since(changed).Round(time.Millisecond))
	if got := get(t, c, orphan).Status.CurrentStatus; got != "valid" {
		t.Errorf("%s once included: %s, want valid", orphan, got)
	}
	if n := follower.writesTo([]policy.Key{root, orphan}); n != 2 {
		t.Errorf("new leader wrote %d statuses for root and orphan, want 2", n)
	}
	if n := follower.writesTo([]policy.Key{a, b}); n != 0 {
		t.Errorf("new leader wrote %d statuses for the unchanged a and b, want none", n)
	}
	if n := leader.writes.total(); n != leaderWrites {
		t.Errorf("the stopped leader wrote %d more statuses", n-leaderWrites)
	}

	// And then it stays put.
	rvs = resourceVersions(t, c, keys)
	time.Sleep(quietPeriod)
	if diff := cmp.Diff(rvs, resourceVersions(t, c, keys)); diff != "" {
		t.Errorf("settled proxies changed under the new leader (-before +after):\n%s", diff)
	}
	if err := follower.shutdown(); err != nil {
		t.Logf("new leader %s: manager returned %v", follower.name, err)
	}
}

// assertIdle fails the test if r judged or wrote anything.
func assertIdle(t *testing.T, r *replica) {
	t.Helper()
	if n := r.writes.total(); n != 0 {
		t.Errorf("follower %s wrote %d statuses, want none", r.name, n)
	}
	for _, m := range []string{status.MetricSkips, status.MetricWrites, status.MetricConflicts, status.MetricErrors} {
		if n := metricValue(t, r.reg, m); n != 0 {
			t.Errorf("follower %s: %s = %v, want 0", r.name, m, n)
		}
	}
}

// countProxies returns the number of HTTPProxies in the cluster.
func countProxies(t *testing.T, env *framework.Env) int {
	t.Helper()
	var l contourv1.HTTPProxyList
	if err := env.Client().List(t.Context(), &l); err != nil {
		t.Fatal(err)
	}
	return len(l.Items)
}
