package serve

import (
	"testing"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"

	"github.com/projectwarden/warden/controller"
	"github.com/projectwarden/warden/policy"
	fx "github.com/projectwarden/warden/policy/fixture"
)

// TestDispatcher_proxyChanged: a status write is not a change; a spec change (generation)
// and a label change are; so is a delete.
func TestDispatcher_proxyChanged(t *testing.T) {
	d, err := policy.NewDecider(t.Context(), policy.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	q := newDispatcher(d, controller.NewVerdicts(d.Judge))
	k := policy.Key{Namespace: "team-a", Name: "app"}
	apply := func(f func(p *contourv1.HTTPProxy)) bool {
		t.Helper()
		p := fx.Proxy(k.Namespace, k.Name).Route("web", 80).Obj()
		p.Generation, p.Labels = 1, map[string]string{"team": "a"}
		f(p)
		if err := d.Apply(t.Context(), p); err != nil {
			t.Fatal(err)
		}
		return q.proxyChanged(k)
	}
	steps := []struct {
		name string
		f    func(p *contourv1.HTTPProxy)
		want bool
	}{
		{"created", func(*contourv1.HTTPProxy) {}, true},
		{"status written", func(p *contourv1.HTTPProxy) { p.Status.CurrentStatus = "valid" }, false},
		{"spec changed", func(p *contourv1.HTTPProxy) { p.Generation = 2 }, true},
		{"status written again", func(p *contourv1.HTTPProxy) { p.Generation = 2; p.Status.CurrentStatus = "valid" }, false},
		{"label changed", func(p *contourv1.HTTPProxy) { p.Generation = 2; p.Labels["team"] = "b" }, true},
		{"annotation added", func(p *contourv1.HTTPProxy) {
			p.Generation, p.Labels["team"], p.Annotations = 2, "b", map[string]string{"note": "x"}
		}, true},
	}
	for _, s := range steps {
		if got := apply(s.f); got != s.want {
			t.Errorf("%s: proxyChanged = %v, want %v", s.name, got, s.want)
		}
	}
	if err := d.Remove(t.Context(), fx.Proxy(k.Namespace, k.Name).Obj()); err != nil {
		t.Fatal(err)
	}
	if !q.proxyChanged(k) {
		t.Error("deleted: proxyChanged = false, want true")
	}
}
