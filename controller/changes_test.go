package controller_test

import (
	"slices"
	"testing"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"

	"github.com/projectwarden/warden/controller"
	"github.com/projectwarden/warden/policy"
	fx "github.com/projectwarden/warden/policy/fixture"
)

// TestChanges_rememberRemovedEdges: once a root drops an include, the inventory no longer
// links it to the child, but the child's verdict changes (it becomes orphaned), so the
// root's next change must still name it.
func TestChanges_rememberRemovedEdges(t *testing.T) {
	d, err := policy.NewDecider(t.Context(), policy.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	child := fx.Proxy("team-a", "child").Created(1).Route("web", 80).Obj()
	root := fx.Proxy("roots", "app").Created(2).FQDN("app.example.com").Include("team-a", "child").Obj()
	if err := d.Apply(t.Context(), child); err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(t.Context(), root); err != nil {
		t.Fatal(err)
	}
	c := controller.NewChanges(d)
	rootKey, childKey := policy.Key{Namespace: "roots", Name: "app"}, policy.Key{Namespace: "team-a", Name: "child"}
	if got := c.Affected(policy.KindHTTPProxy, rootKey); !slices.Contains(got, childKey) {
		t.Fatalf("Affected(root) = %v, want the included child", got)
	}
	if err := d.Apply(t.Context(), fx.Proxy("roots", "app").Created(2).FQDN("app.example.com").Route("web", 80).Obj()); err != nil {
		t.Fatal(err)
	}
	if got := d.Related(policy.KindHTTPProxy, rootKey); slices.Contains(got, childKey) {
		t.Fatalf("Related(root) = %v still names the child; the test assumes the edge is gone", got)
	}
	if got := c.Affected(policy.KindHTTPProxy, rootKey); !slices.Contains(got, childKey) {
		t.Errorf("Affected(root) after the include was removed = %v, want the child (now orphaned) too", got)
	}
}

// TestChanges_fqdnHandover: when the owner of an fqdn is deleted, the root that claimed the
// same fqdn later becomes the owner, although it appeared after the owner's last change.
func TestChanges_fqdnHandover(t *testing.T) {
	d, err := policy.NewDecider(t.Context(), policy.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	c := controller.NewChanges(d)
	owner := fx.Proxy("roots", "owner").Created(1).FQDN("app.example.com").Route("web", 80).Obj()
	late := fx.Proxy("roots", "late").Created(2).FQDN("APP.example.com").Include("team-a", "child").Obj()
	child := fx.Proxy("team-a", "child").Created(3).Route("web", 80).Obj()
	for _, p := range []*contourv1.HTTPProxy{owner, late, child} {
		if err := d.Apply(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	ownerKey := policy.Key{Namespace: "roots", Name: "owner"}
	c.Affected(policy.KindHTTPProxy, ownerKey) // the owner's last change: late did not matter then
	c.Affected(policy.KindHTTPProxy, policy.Key{Namespace: "roots", Name: "late"})
	c.Affected(policy.KindHTTPProxy, policy.Key{Namespace: "team-a", Name: "child"})
	if err := d.Remove(t.Context(), owner); err != nil {
		t.Fatal(err)
	}
	got := c.Affected(policy.KindHTTPProxy, ownerKey)
	for _, want := range []policy.Key{{Namespace: "roots", Name: "late"}, {Namespace: "team-a", Name: "child"}} {
		if !slices.Contains(got, want) {
			t.Errorf("Affected(deleted owner) = %v, want %s (the next claimant's tree) in it", got, want)
		}
	}
}
