package status_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/projectwarden/warden/controller/status"
	"github.com/projectwarden/warden/e2e/framework"
	"github.com/projectwarden/warden/policy"
	"github.com/projectwarden/warden/watch"
)

// pollTimeout bounds how long a test waits for the cluster to settle.
const pollTimeout = 30 * time.Second

// testLogger logs to t until the test's cleanups are done, and then drops what goroutines
// that outlive the test still log (t.Log would panic).
func testLogger(t *testing.T, verbosity int) logr.Logger {
	var done atomic.Bool
	t.Cleanup(func() { done.Store(true) }) // registered first, so it runs last
	return funcr.New(func(prefix, args string) {
		if !done.Load() {
			t.Log(prefix, args)
		}
	}, funcr.Options{Verbosity: verbosity})
}

// writeCounter counts the status writes a client sent and the API server accepted, per
// proxy.
type writeCounter struct {
	mu     sync.Mutex
	writes map[policy.Key]int
}

func (c *writeCounter) add(k policy.Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writes == nil {
		c.writes = map[policy.Key]int{}
	}
	c.writes[k]++
}

// total returns the number of accepted writes.
func (c *writeCounter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, w := range c.writes {
		n += w
	}
	return n
}

// of returns the number of accepted writes to k.
func (c *writeCounter) of(k policy.Key) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes[k]
}

// beforeWrite, if set on a writeClient, runs before each status write is sent.
type beforeWrite func(ctx context.Context, obj client.Object)

// newWriteClient returns a client that reads from the API server and counts the status
// writes it makes into wc. hook, if not nil, is loaded before each status write and run
// if set.
func newWriteClient(t *testing.T, env *framework.Env, s *runtime.Scheme, wc *writeCounter, hook *atomic.Pointer[beforeWrite]) client.Client {
	t.Helper()
	c, err := client.NewWithWatch(env.Config(), client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	return interceptor.NewClient(c, interceptor.Funcs{
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			if hook != nil {
				if h := hook.Load(); h != nil && sub == "status" {
					(*h)(ctx, obj)
				}
			}
			err := c.SubResource(sub).Update(ctx, obj, opts...)
			if err == nil && sub == "status" {
				wc.add(policy.Key{Namespace: obj.GetNamespace(), Name: obj.GetName()})
			}
			return err
		},
	})
}

// newDecider returns a Decider with the default settings (roots in any namespace).
func newDecider(t *testing.T) *policy.Decider {
	t.Helper()
	d, err := policy.NewDecider(t.Context(), policy.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// newScheme returns watch.NewScheme's scheme.
func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s, err := watch.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// metricValue returns the sum of the values of the counter (or the sample count of the
// histogram) name in reg whose labels include the given name, value pairs.
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// eventually polls cond until it holds, and fails the test if it does not within
// pollTimeout; the message is what describe returns then.
func eventually(t *testing.T, what string, cond func() bool, describe func() string) {
	t.Helper()
	ctx := context.WithoutCancel(t.Context()) // also usable from t.Cleanup
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, pollTimeout, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		msg := ""
		if describe != nil {
			msg = ": " + describe()
		}
		t.Fatalf("%s: not within %v%s", what, pollTimeout, msg)
	}
}

// create creates objects, failing the test on error.
func create(t *testing.T, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(t.Context(), o); err != nil {
			t.Fatalf("creating %T %s/%s: %v", o, o.GetNamespace(), o.GetName(), err)
		}
	}
}

// get reads the HTTPProxy k from the API server.
func get(t *testing.T, c client.Client, k policy.Key) *contourv1.HTTPProxy {
	t.Helper()
	p := &contourv1.HTTPProxy{}
	if err := c.Get(context.WithoutCancel(t.Context()), client.ObjectKey{Namespace: k.Namespace, Name: k.Name}, p); err != nil {
		t.Fatalf("reading HTTPProxy %s: %v", k, err)
	}
	return p
}

// update reads the HTTPProxy k, changes it with f and writes it back, retrying conflicts.
func update(t *testing.T, c client.Client, k policy.Key, f func(*contourv1.HTTPProxy)) {
	t.Helper()
	for range 10 {
		p := get(t, c, k)
		f(p)
		err := c.Update(t.Context(), p)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatalf("updating HTTPProxy %s: %v", k, err)
		}
	}
	t.Fatalf("updating HTTPProxy %s: conflicts kept coming", k)
}

// ignoreTransitionTime compares statuses without LastTransitionTime.
var ignoreTransitionTime = cmpopts.IgnoreFields(metav1.Condition{}, "LastTransitionTime")

// statusDiff returns how the stored status of p differs from what d judges, transition
// times aside, or "" if it does not.
func statusDiff(t *testing.T, d *policy.Decider, p *contourv1.HTTPProxy) string {
	t.Helper()
	k := policy.Key{Namespace: p.Namespace, Name: p.Name}
	v, err := d.Judge(context.WithoutCancel(t.Context()), k)
	if err != nil {
		t.Fatal(err)
	}
	if v == nil {
		return fmt.Sprintf("the Decider does not know %s", k)
	}
	return cmp.Diff(v.Status, p.Status, ignoreTransitionTime, cmpopts.EquateEmpty())
}

// settled reports whether every proxy in keys has the status d judges for it, at the
// generation stored.
func settled(t *testing.T, c client.Client, d *policy.Decider, keys []policy.Key) (bool, string) {
	t.Helper()
	for _, k := range keys {
		p := get(t, c, k)
		if diff := statusDiff(t, d, p); diff != "" {
			return false, fmt.Sprintf("%s (-judged +stored):\n%s", k, diff)
		}
		if c := validCondition(p); c == nil || c.ObservedGeneration != p.Generation {
			return false, fmt.Sprintf("%s: Valid condition %+v, generation %d", k, c, p.Generation)
		}
	}
	return true, ""
}

// waitSettled waits until settled holds.
func waitSettled(t *testing.T, c client.Client, d *policy.Decider, keys []policy.Key) {
	t.Helper()
	var why string
	eventually(t, "statuses settle", func() bool {
		var ok bool
		ok, why = settled(t, c, d, keys)
		return ok
	}, func() string { return why })
}

func validCondition(p *contourv1.HTTPProxy) *contourv1.DetailedCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == "Valid" {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// resourceVersions returns the resourceVersion of each proxy in keys.
func resourceVersions(t *testing.T, c client.Client, keys []policy.Key) map[policy.Key]string {
	t.Helper()
	rvs := map[policy.Key]string{}
	for _, k := range keys {
		rvs[k] = get(t, c, k).ResourceVersion
	}
	return rvs
}

// settableClock is a clock.PassiveClock whose Now returns the time last set, or the real
// time if none is.
type settableClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *settableClock) set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
}

func (c *settableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		return time.Now()
	}
	return c.now
}

func (c *settableClock) Since(ts time.Time) time.Duration { return c.Now().Sub(ts) }

var _ clock.PassiveClock = (*settableClock)(nil)

// runWriter starts w until the test ends, and waits for Start to return in cleanup.
func runWriter(t *testing.T, ctx context.Context, w *status.Writer) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Writer.Start: %v", err)
		}
	})
}
