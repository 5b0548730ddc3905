package watch_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/google/go-cmp/cmp"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	policyv1alpha1 "github.com/projectwarden/warden/apis/policy/v1alpha1"
	"github.com/projectwarden/warden/e2e/framework"
	"github.com/projectwarden/warden/policy"
	"github.com/projectwarden/warden/policy/fixture"
	"github.com/projectwarden/warden/watch"
)

// pollTimeout bounds how long a test waits for an event to reach the Decider.
const pollTimeout = 30 * time.Second

// The admin policies below act only on the namespaces their test owns, so that one test's
// policy cannot change another test's decisions.
const (
	// teamAWarns reads the namespace labels from data.inventory.namespaces.
	teamAWarns = `package team_a_warns

warn contains v if {
	input.kind == "HTTPProxy"
	data.inventory.namespaces[input.namespace.name].labels.team == "a"
	v := {"rule": "team-a", "message": "team a proxy"}
}
`
	frozenDenies = `package frozen

deny contains v if {
	input.kind == "HTTPProxy"
	input.operation in {"CREATE", "UPDATE"}
	data.inventory.namespaces[input.namespace.name].labels.frozen == "true"
	v := {"rule": "frozen", "message": "namespace is frozen"}
}
`
	doesNotCompile = `package broken

deny contains v if {
	v := no_such_variable
}
`
	failingTests = `package failing_tests_test

test_always_fails if {
	1 == 2
}
`
)

// seenWarns flags every HTTPProxy in namespace "keep" with the given rule.
func seenWarns(rule string) string {
	return `package keep

warn contains v if {
	input.kind == "HTTPProxy"
	input.namespace.name == "keep"
	v := {"rule": "` + rule + `", "message": "seen"}
}
`
}

func TestFeed(t *testing.T) {
	env := framework.Start(t, framework.WithScheme(contourv1.AddToScheme, policyv1alpha1.AddToScheme))
	create(t, env.Client(), preexisting()...)

	d := newDecider(t)
	var events appliedLog
	f, informers := newFeed(t, env, d, watch.Options{OnApplied: events.record})
	if err := f.Ready(); !errors.Is(err, watch.ErrNotStarted) {
		t.Fatalf("Ready before Start = %v, want ErrNotStarted", err)
	}
	ctx, stop := context.WithCancel(ctrl.LoggerInto(t.Context(), testr.NewWithOptions(t, testr.Options{Verbosity: 1})))
	if err := f.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Stop the feed while the test can still log, before the cache and the API server.
		stop()
		eventually(t, "the feed stops", func() bool { return errors.Is(f.Ready(), watch.ErrStopped) })
	})
	if err := f.Start(ctx); !errors.Is(err, watch.ErrAlreadyStarted) {
		t.Fatalf("second Start = %v, want ErrAlreadyStarted", err)
	}
	err := f.Ready()
	if !errors.Is(err, watch.ErrNotSynced) || !strings.Contains(err.Error(), "HTTPProxy") || !strings.Contains(err.Error(), "Secret") {
		t.Fatalf("Ready before the cache started = %v, want ErrNotSynced naming HTTPProxy and Secret", err)
	}
	startCache(t, informers)
	waitForSync(t, f)
	if err := f.Ready(); err != nil {
		t.Fatalf("Ready once synced = %v, want nil", err)
	}

	t.Run("objects_created_before_start_are_in_the_inventory_once_synced", func(t *testing.T) {
		testPreexisting(t, d)
	})
	t.Run("cached_objects_carry_no_managed_fields", func(t *testing.T) {
		testNoManagedFields(t, informers, d)
	})
	t.Run("secrets_are_cached_as_metadata_only", func(t *testing.T) {
		testSecretsMetadataOnly(t, informers)
	})
	t.Run("a_proxy_is_added_updated_and_removed", func(t *testing.T) {
		testProxyLifecycle(t, env.Client(), d, &events)
	})
	t.Run("namespace_labels_reach_the_policy_data", func(t *testing.T) {
		testNamespaceLabels(t, env.Client(), d)
	})
	t.Run("a_secret_known_by_its_metadata_satisfies_a_tls_reference", func(t *testing.T) {
		testSecret(t, env.Client(), d)
	})
	t.Run("a_delegation_policy_is_activated_and_deactivated", func(t *testing.T) {
		testPolicyLifecycle(t, env.Client(), d)
	})
	t.Run("a_broken_delegation_policy_is_reported_and_does_not_stop_the_feed", func(t *testing.T) {
		testBrokenPolicy(t, env.Client(), f, d)
	})
	t.Run("a_broken_update_keeps_the_previous_version_active", func(t *testing.T) {
		testBrokenUpdate(t, env.Client(), f, d)
	})
	t.Run("a_feed_stops_when_its_context_is_done", func(t *testing.T) {
		testStop(t, env.Client(), informers, d)
	})
}

// preexisting are the objects created before the Feed starts: a root in namespace "early"
// (labelled team=a) with a route to a Service and a TLS secret delegated from "certs", and
// a policy that warns about team a's proxies.
func preexisting() []client.Object {
	secret := fixture.Secret("certs", "wildcard")
	secret.Data = map[string][]byte{"tls.crt": []byte("not read"), "tls.key": []byte("not read")}
	return []client.Object{
		fixture.Namespace("early", "team", "a"),
		fixture.Namespace("certs"),
		secret,
		fixture.Delegation("certs", "wildcard", "wildcard", "early"),
		fixture.Service("early", "web", 80),
		fixture.Proxy("early", "app").FQDN("app.example.com").TLS("certs/wildcard").Route("web", 80).Obj(),
		fixture.Policy("team-a-warns", teamAWarns, "", policyv1alpha1.EnforcementWarn),
	}
}

func testPreexisting(t *testing.T, d *policy.Decider) {
	// No polling here: WaitForSync promised that the initial lists were applied.
	key := policy.Key{Namespace: "early", Name: "app"}
	if d.Inventory().Proxy(key) == nil {
		t.Fatalf("Proxy(%s) = nil, want the proxy created before Start", key)
	}
	if !slices.Contains(d.Engine().Policies(), "team-a-warns") {
		t.Fatalf("active policies = %v, want team-a-warns", d.Engine().Policies())
	}
	v, err := d.Judge(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	// The delegation, the Secret, the Service and the namespace label are all known: the
	// only finding is the admin policy's warning, which needs the label.
	want := []string{"policy team-a-warns/team-a"}
	if diff := cmp.Diff(want, ruleIDs(v.Denials, v.Warnings, v.Audits)); diff != "" {
		t.Errorf("Judge(%s) findings (-want +got):\n%s", key, diff)
	}
}

func testNoManagedFields(t *testing.T, informers cache.Cache, d *policy.Decider) {
	var p contourv1.HTTPProxy
	if err := informers.Get(t.Context(), client.ObjectKey{Namespace: "early", Name: "app"}, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.ManagedFields) != 0 {
		t.Errorf("cached HTTPProxy has %d managedFields entries, want none", len(p.ManagedFields))
	}
	got := d.Inventory().Proxy(policy.Key{Namespace: "early", Name: "app"})
	if got == nil {
		t.Fatal("inventory has no early/app")
	}
	if len(got.ManagedFields) != 0 {
		t.Errorf("inventory HTTPProxy has %d managedFields entries, want none", len(got.ManagedFields))
	}
}

func testSecretsMetadataOnly(t *testing.T, informers cache.Cache) {
	// The test cache fails reads of kinds it has no informer for, so a typed Secret list
	// fails unless something started a full Secret informer.
	var full corev1.SecretList
	var notCached *cache.ErrResourceNotCached
	if err := informers.List(t.Context(), &full); !errors.As(err, &notCached) {
		t.Errorf("List(SecretList) = %v, want ErrResourceNotCached: nothing may cache Secret data", err)
	}
	meta := &metav1.PartialObjectMetadataList{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	if err := informers.List(t.Context(), meta, client.InNamespace("certs")); err != nil {
		t.Fatal(err)
	}
	if len(meta.Items) != 1 || meta.Items[0].Name != "wildcard" {
		t.Errorf("Secret metadata in certs = %v, want certs/wildcard", meta.Items)
	}
}

func testProxyLifecycle(t *testing.T, c client.Client, d *policy.Decider, events *appliedLog) {
	create(t, c, fixture.Namespace("life"))
	key := policy.Key{Namespace: "life", Name: "app"}
	fqdn := func() string {
		if p := d.Inventory().Proxy(key); p != nil && p.Spec.VirtualHost != nil {
			return p.Spec.VirtualHost.Fqdn
		}
		return ""
	}
	steps := []struct {
		name string
		do   func(ctx context.Context) error
		done func() bool
	}{{
		name: "a_created_proxy_appears",
		do: func(ctx context.Context) error {
			return c.Create(ctx, fixture.Proxy("life", "app").FQDN("one.example.com").Obj())
		},
		done: func() bool { return fqdn() == "one.example.com" },
	}, {
		name: "an_update_is_reflected",
		do: func(ctx context.Context) error {
			var p contourv1.HTTPProxy
			if err := c.Get(ctx, client.ObjectKey{Namespace: "life", Name: "app"}, &p); err != nil {
				return err
			}
			p.Spec.VirtualHost.Fqdn = "two.example.com"
			return c.Update(ctx, &p)
		},
		done: func() bool { return fqdn() == "two.example.com" },
	}, {
		name: "a_delete_removes_it",
		do: func(ctx context.Context) error {
			return c.Delete(ctx, fixture.Proxy("life", "app").Obj())
		},
		done: func() bool { return d.Inventory().Proxy(key) == nil },
	}}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if err := step.do(t.Context()); err != nil {
				t.Fatal(err)
			}
			eventually(t, step.name, step.done)
		})
	}
	if got := events.count("HTTPProxy", key); got < len(steps) {
		t.Errorf("OnApplied saw %d HTTPProxy events for %s, want at least %d", got, key, len(steps))
	}
}

func testNamespaceLabels(t *testing.T, c client.Client, d *policy.Decider) {
	create(t, c, fixture.Namespace("thaw", "frozen", "false"),
		fixture.Policy("frozen-namespaces", frozenDenies, "", policyv1alpha1.EnforcementDeny))
	t.Cleanup(func() { deletePolicy(t, c, d, "frozen-namespaces") })
	eventually(t, "frozen-namespaces is active", func() bool { return slices.Contains(d.Engine().Policies(), "frozen-namespaces") })
	proposed := fixture.Proxy("thaw", "app").Route("web", 80).Obj()
	frozen := func() bool { return slices.Contains(decideRules(t, d, proposed), "policy frozen-namespaces/frozen") }
	cases := []struct {
		name   string
		frozen string
	}{
		{name: "labelling_the_namespace_frozen_denies", frozen: "true"},
		{name: "thawing_it_allows_again", frozen: "false"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ns corev1.Namespace
			if err := c.Get(t.Context(), client.ObjectKey{Name: "thaw"}, &ns); err != nil {
				t.Fatal(err)
			}
			ns.Labels["frozen"] = tc.frozen
			if err := c.Update(t.Context(), &ns); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the decision follows frozen="+tc.frozen, func() bool { return frozen() == (tc.frozen == "true") })
		})
	}
}

func testSecret(t *testing.T, c client.Client, d *policy.Decider) {
	create(t, c, fixture.Namespace("tls"))
	root := fixture.Proxy("tls", "app").FQDN("tls.example.com").TLS("cert").Obj()
	missing := func() bool { return slices.Contains(decideRules(t, d, root), "secret-not-found") }
	if !missing() {
		t.Fatalf("decision on %s before its Secret exists = %v, want secret-not-found", root.Name, decideRules(t, d, root))
	}
	secret := fixture.Secret("tls", "cert")
	secret.Data = map[string][]byte{"tls.crt": []byte("not read"), "tls.key": []byte("not read")}
	steps := []struct {
		name        string
		do          func(ctx context.Context) error
		wantMissing bool
	}{
		{name: "a_created_secret_is_known", do: func(ctx context.Context) error { return c.Create(ctx, secret) }},
		{name: "a_deleted_secret_is_forgotten", do: func(ctx context.Context) error { return c.Delete(ctx, secret) }, wantMissing: true},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if err := step.do(t.Context()); err != nil {
				t.Fatal(err)
			}
			eventually(t, step.name, func() bool { return missing() == step.wantMissing })
		})
	}
}

func testPolicyLifecycle(t *testing.T, c client.Client, d *policy.Decider) {
	create(t, c, fixture.Policy("keep-seen", seenWarns("seen"), "", policyv1alpha1.EnforcementWarn))
	eventually(t, "keep-seen is active", func() bool { return slices.Contains(d.Engine().Policies(), "keep-seen") })
	deletePolicy(t, c, d, "keep-seen")
}

func testBrokenPolicy(t *testing.T, c client.Client, f *watch.Feed, d *policy.Decider) {
	cases := map[string]struct {
		rego, tests string
		wantErr     string
	}{
		"spec_rego_does_not_compile": {rego: doesNotCompile, wantErr: "does not compile"},
		"spec_tests_fail":            {rego: seenWarns("seen"), tests: failingTests, wantErr: "spec.tests failed"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			policyName := strings.ReplaceAll(name, "_", "-")
			create(t, c, fixture.Policy(policyName, tc.rego, tc.tests, policyv1alpha1.EnforcementDeny))
			eventually(t, "PolicyErrors reports "+policyName, func() bool { return f.PolicyErrors()[policyName] != "" })
			if got := f.PolicyErrors()[policyName]; !strings.Contains(got, tc.wantErr) {
				t.Errorf("PolicyErrors()[%s] = %q, want it to contain %q", policyName, got, tc.wantErr)
			}
			if slices.Contains(d.Engine().Policies(), policyName) {
				t.Errorf("active policies = %v, want %s not among them", d.Engine().Policies(), policyName)
			}
			// The feed goes on: a proxy created after the broken policy still arrives.
			create(t, c, fixture.Namespace(policyName), fixture.Proxy(policyName, "after").Obj())
			eventually(t, "the proxy created after the broken policy appears", func() bool {
				return d.Inventory().Proxy(policy.Key{Namespace: policyName, Name: "after"}) != nil
			})
			deletePolicy(t, c, d, policyName)
			eventually(t, "PolicyErrors forgets a deleted policy", func() bool {
				_, ok := f.PolicyErrors()[policyName]
				return !ok
			})
		})
	}
}

func testBrokenUpdate(t *testing.T, c client.Client, f *watch.Feed, d *policy.Decider) {
	create(t, c, fixture.Namespace("keep"),
		fixture.Policy("keep-versions", seenWarns("v1"), "", policyv1alpha1.EnforcementWarn))
	t.Cleanup(func() { deletePolicy(t, c, d, "keep-versions") })
	proposed := fixture.Proxy("keep", "app").Obj()
	hasRule := func(rule string) func() bool {
		return func() bool { return slices.Contains(decideRules(t, d, proposed), "policy keep-versions/"+rule) }
	}
	eventually(t, "version 1 decides", hasRule("v1"))
	steps := []struct {
		name, rego string
		wantErr    bool
		wantRule   string
	}{
		{name: "a_broken_version_is_reported_and_version_1_stays", rego: doesNotCompile, wantErr: true, wantRule: "v1"},
		{name: "a_fixed_version_replaces_it_and_clears_the_error", rego: seenWarns("v3"), wantRule: "v3"},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			var p policyv1alpha1.DelegationPolicy
			if err := c.Get(t.Context(), client.ObjectKey{Name: "keep-versions"}, &p); err != nil {
				t.Fatal(err)
			}
			p.Spec.Rego = step.rego
			if err := c.Update(t.Context(), &p); err != nil {
				t.Fatal(err)
			}
			eventually(t, "PolicyErrors follows the update", func() bool {
				_, failed := f.PolicyErrors()["keep-versions"]
				return failed == step.wantErr
			})
			eventually(t, "rule "+step.wantRule+" decides", hasRule(step.wantRule))
		})
	}
}

func testStop(t *testing.T, c client.Client, informers cache.Cache, first *policy.Decider) {
	d := newDecider(t)
	f := watch.New(informers, d, watch.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := f.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitForSync(t, f)
	cancel()
	eventually(t, "Ready reports ErrStopped", func() bool { return errors.Is(f.Ready(), watch.ErrStopped) })
	if f.WaitForSync(t.Context()) {
		t.Error("WaitForSync on a stopped feed = true, want false")
	}
	create(t, c, fixture.Namespace("late"), fixture.Proxy("late", "app").Obj())
	key := policy.Key{Namespace: "late", Name: "app"}
	eventually(t, "the running feed applies the late proxy", func() bool { return first.Inventory().Proxy(key) != nil })
	if d.Inventory().Proxy(key) != nil {
		t.Errorf("the stopped feed applied %s, want it to apply nothing more", key)
	}
}

func newDecider(t *testing.T) *policy.Decider {
	t.Helper()
	d, err := policy.NewDecider(t.Context(), policy.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// newFeed builds a cache over the test API server, as `warden serve` would, except that
// reads of kinds without an informer fail (so a test can tell what is cached), and a Feed
// over it. The cache is not started.
func newFeed(t *testing.T, env *framework.Env, d *policy.Decider, opts watch.Options) (*watch.Feed, cache.Cache) {
	t.Helper()
	s, err := watch.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	o := watch.CacheOptions(s)
	o.ReaderFailOnMissingInformer = true
	informers, err := cache.New(env.Config(), o)
	if err != nil {
		t.Fatal(err)
	}
	return watch.New(informers, d, opts), informers
}

// startCache runs the cache until the test ends, and stops it before the API server stops.
func startCache(t *testing.T, informers cache.Cache) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- informers.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("cache: %v", err)
		}
	})
}

func waitForSync(t *testing.T, f *watch.Feed) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if !f.WaitForSync(ctx) {
		t.Fatalf("WaitForSync timed out; Ready = %v", f.Ready())
	}
}

func create(t *testing.T, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(t.Context(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, client.ObjectKeyFromObject(o), err)
		}
	}
}

// deletePolicy deletes a DelegationPolicy and waits until the Decider has deactivated it.
func deletePolicy(t *testing.T, c client.Client, d *policy.Decider, name string) {
	t.Helper()
	if err := c.Delete(context.WithoutCancel(t.Context()), fixture.Policy(name, "", "", "")); err != nil {
		t.Fatalf("deleting DelegationPolicy %s: %v", name, err)
	}
	eventually(t, name+" is deactivated", func() bool { return !slices.Contains(d.Engine().Policies(), name) })
}

// eventually polls cond until it holds, and fails the test if it does not within pollTimeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx := context.WithoutCancel(t.Context()) // also usable from t.Cleanup
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, pollTimeout, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("%s: not within %v", what, pollTimeout)
	}
}

// decideRules returns the rules that deny or warn about creating p.
func decideRules(t *testing.T, d *policy.Decider, p *contourv1.HTTPProxy) []string {
	t.Helper()
	dec, err := d.Decide(context.WithoutCancel(t.Context()), policy.Change{Operation: policy.Create, Object: p})
	if err != nil {
		t.Fatal(err)
	}
	return ruleIDs(dec.Denials, dec.Warnings)
}

func ruleIDs(lists ...[]policy.Violation) []string {
	var ids []string
	for _, vs := range lists {
		for _, v := range vs {
			ids = append(ids, v.RuleID())
		}
	}
	slices.Sort(ids)
	return ids
}

// appliedLog records the events OnApplied reports.
type appliedLog struct {
	mu     sync.Mutex
	events map[string]int // "kind key" -> count
}

func (l *appliedLog) record(kind string, key policy.Key) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.events == nil {
		l.events = map[string]int{}
	}
	l.events[kind+" "+key.String()]++
}

func (l *appliedLog) count(kind string, key policy.Key) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.events[kind+" "+key.String()]
}
