package policy

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"

	"github.com/projectwarden/warden/policy/fixture"
)

// TestInventoryKeepsRegoInputAcrossStatusWrites applies successive versions of one
// HTTPProxy: a status write keeps the Rego input already built (the same value, not a new
// JSON round trip); a change of labels or spec builds a new one.
func TestInventoryKeepsRegoInputAcrossStatusWrites(t *testing.T) {
	base := fixture.Proxy("team-a", "app").FQDN("app.example.com").Obj()
	base.Generation, base.ResourceVersion = 1, "10"
	version := func(change func(p *contourv1.HTTPProxy)) *contourv1.HTTPProxy {
		p := base.DeepCopy()
		change(p)
		return p
	}
	cases := []struct {
		name string
		next *contourv1.HTTPProxy
		kept bool
	}{
		{"status_write_keeps_the_input", version(func(p *contourv1.HTTPProxy) {
			p.ResourceVersion, p.Status.CurrentStatus = "11", "valid"
		}), true},
		{"label_change_rebuilds_it", version(func(p *contourv1.HTTPProxy) {
			p.ResourceVersion, p.Labels = "11", map[string]string{"tier": "edge"}
		}), false},
		{"spec_change_rebuilds_it", version(func(p *contourv1.HTTPProxy) {
			p.ResourceVersion, p.Generation, p.Spec.VirtualHost.Fqdn = "11", 2, "other.example.com"
		}), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inv := NewInventory()
			inv.Apply(base)
			k := Key{Namespace: base.Namespace, Name: base.Name}
			before := inv.proxies[k].objectValue()
			inv.Apply(tc.next)
			after := inv.proxies[k].objectValue()
			if kept := before == after; kept != tc.kept {
				t.Errorf("input kept = %v, want %v", kept, tc.kept)
			}
			meta := after.(ast.Object).Get(ast.StringTerm("metadata")).Value.(ast.Object)
			if meta.Get(ast.StringTerm("resourceVersion")) != nil {
				t.Error("the Rego input holds metadata.resourceVersion")
			}
			if tc.name == "label_change_rebuilds_it" && meta.Get(ast.StringTerm("labels")) == nil {
				t.Error("the rebuilt input lacks the new labels")
			}
		})
	}
}
