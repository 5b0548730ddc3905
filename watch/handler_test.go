package watch

import (
	"slices"
	"sync"
	"testing"

	"github.com/go-logr/logr/testr"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	policyv1alpha1 "github.com/projectwarden/warden/apis/policy/v1alpha1"
	"github.com/projectwarden/warden/policy"
	"github.com/projectwarden/warden/policy/fixture"
)

// These tests drive the handlers directly, for the events a real API server cannot be made
// to produce on demand: tombstones of missed deletes, and updates that leave the spec alone.

const validPolicy = `package valid

deny contains v if {
	input.kind == "HTTPProxy"
	v := {"rule": "never", "message": "never"}
	false
}
`

func TestDeleteEvents(t *testing.T) {
	root := fixture.Proxy("team-a", "app").FQDN("app.example.com").TLS("cert").Obj()
	secret := fixture.Secret("team-a", "cert")
	pol := fixture.Policy("valid", validPolicy, "", policyv1alpha1.EnforcementDeny)
	cases := map[string]struct {
		kind   string
		stored client.Object
		event  any
		gone   func(t *testing.T, d *policy.Decider) bool
	}{
		"a_delete_removes_the_proxy": {
			kind: "HTTPProxy", stored: root, event: root,
			gone: func(_ *testing.T, d *policy.Decider) bool { return d.Inventory().Proxy(key(root)) == nil },
		},
		"a_tombstone_with_the_final_state_removes_the_proxy": {
			kind: "HTTPProxy", stored: root, event: toolscache.DeletedFinalStateUnknown{Key: "team-a/app", Obj: root},
			gone: func(_ *testing.T, d *policy.Decider) bool { return d.Inventory().Proxy(key(root)) == nil },
		},
		"a_tombstone_with_only_a_key_removes_the_proxy": {
			kind: "HTTPProxy", stored: root, event: toolscache.DeletedFinalStateUnknown{Key: "team-a/app"},
			gone: func(_ *testing.T, d *policy.Decider) bool { return d.Inventory().Proxy(key(root)) == nil },
		},
		"a_tombstone_with_only_a_key_deactivates_a_cluster_scoped_policy": {
			kind: "DelegationPolicy", stored: pol, event: toolscache.DeletedFinalStateUnknown{Key: "valid"},
			gone: func(_ *testing.T, d *policy.Decider) bool { return !slices.Contains(d.Engine().Policies(), "valid") },
		},
		"a_tombstone_with_only_a_key_forgets_the_secret": {
			kind: "Secret", stored: metadataOf(secret), event: toolscache.DeletedFinalStateUnknown{Key: "team-a/cert"},
			gone: func(t *testing.T, d *policy.Decider) bool {
				return slices.Contains(warnings(t, d, root), "secret-not-found")
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var got []string
			f, h := newHandler(t, tc.kind, func(kind string, k policy.Key) { got = append(got, kind+" "+k.String()) })
			h.OnAdd(tc.stored, true)
			if tc.gone(t, f.decider) {
				t.Fatal("the object is absent before the delete")
			}
			h.OnDelete(tc.event)
			if !tc.gone(t, f.decider) {
				t.Error("the object is still in the Decider after the delete")
			}
			want := []string{tc.kind + " " + key(tc.stored).String(), tc.kind + " " + key(tc.stored).String()}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("OnApplied calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEventsOfUnexpectedTypeAreIgnored(t *testing.T) {
	cases := map[string]func(h toolscache.ResourceEventHandler){
		"add":                         func(h toolscache.ResourceEventHandler) { h.OnAdd("not an object", false) },
		"delete":                      func(h toolscache.ResourceEventHandler) { h.OnDelete(42) },
		"tombstone_with_a_bad_key":    func(h toolscache.ResourceEventHandler) { h.OnDelete(toolscache.DeletedFinalStateUnknown{Key: "a/b/c"}) },
		"tombstone_with_an_empty_key": func(h toolscache.ResourceEventHandler) { h.OnDelete(toolscache.DeletedFinalStateUnknown{}) },
	}
	for name, send := range cases {
		t.Run(name, func(t *testing.T) {
			calls := 0
			_, h := newHandler(t, "HTTPProxy", func(string, policy.Key) { calls++ })
			send(h)
			if calls != 0 {
				t.Errorf("OnApplied called %d times, want 0", calls)
			}
		})
	}
}

func TestPolicyUpdates(t *testing.T) {
	cases := map[string]struct {
		oldGeneration, newGeneration int64
		wantApplied                  bool
	}{
		"a_spec_change_recompiles":                {oldGeneration: 1, newGeneration: 2, wantApplied: true},
		"a_status_or_metadata_change_is_skipped":  {oldGeneration: 2, newGeneration: 2},
		"an_object_without_generation_is_applied": {wantApplied: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			applied := false
			_, h := newHandler(t, "DelegationPolicy", func(string, policy.Key) { applied = true })
			oldP := fixture.Policy("valid", validPolicy, "", policyv1alpha1.EnforcementDeny)
			oldP.Generation = tc.oldGeneration
			newP := oldP.DeepCopy()
			newP.Generation = tc.newGeneration
			h.OnUpdate(oldP, newP)
			if applied != tc.wantApplied {
				t.Errorf("applied = %v, want %v", applied, tc.wantApplied)
			}
		})
	}
}

func TestPolicyErrorsIsACopy(t *testing.T) {
	f, h := newHandler(t, "DelegationPolicy", nil)
	h.OnAdd(fixture.Policy("broken", "package broken\n\ndeny contains v if { v := nope }\n", "", ""), false)
	got := f.PolicyErrors()
	if got["broken"] == "" {
		t.Fatalf("PolicyErrors() = %v, want an error for broken", got)
	}
	delete(got, "broken")
	if f.PolicyErrors()["broken"] == "" {
		t.Error("modifying the result of PolicyErrors changed the Feed")
	}
}

// newHandler returns a Feed over a fresh Decider, and its handler for kind.
func newHandler(t *testing.T, kindName string, onApplied func(string, policy.Key)) (*Feed, toolscache.ResourceEventHandler) {
	t.Helper()
	d, err := policy.NewDecider(t.Context(), policy.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	opts := Options{}
	if onApplied != nil {
		opts.OnApplied = func(kind string, k policy.Key) {
			mu.Lock()
			defer mu.Unlock()
			onApplied(kind, k)
		}
	}
	f := New(nil, d, opts)
	for _, k := range f.kinds() {
		if k.name == kindName {
			ctx := ctrl.LoggerInto(t.Context(), testr.New(t))
			return f, f.handler(ctx, k)
		}
	}
	t.Fatalf("no kind %s", kindName)
	return nil, nil
}

func metadataOf(s *corev1.Secret) *metav1.PartialObjectMetadata {
	m := secretMetadata().(*metav1.PartialObjectMetadata)
	m.ObjectMeta = s.ObjectMeta
	return m
}

func key(o client.Object) policy.Key {
	return policy.Key{Namespace: o.GetNamespace(), Name: o.GetName()}
}

func warnings(t *testing.T, d *policy.Decider, p client.Object) []string {
	t.Helper()
	dec, err := d.Decide(t.Context(), policy.Change{Operation: policy.Create, Object: p})
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, v := range dec.Warnings {
		rules = append(rules, v.RuleID())
	}
	return rules
}
