package policy

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
			before := inv.proxies[k].objectValue(inv.terms)
			inv.Apply(tc.next)
			after := inv.proxies[k].objectValue(inv.terms)
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

// scaleProxies are 5,000 HTTPProxies shaped like the scale run's (e2e/scale_test.go): 1,000
// roots with TLS and 4 includes, and 4,000 children with 2 routes, with the metadata the API
// server adds (uid, generation, creation time, resource version, managed fields).
func scaleProxies() []*contourv1.HTTPProxy {
	var out []*contourv1.HTTPProxy
	stored := func(p *contourv1.HTTPProxy, n int) *contourv1.HTTPProxy {
		p.UID = types.UID(fmt.Sprintf("6f1c0d2e-9a4b-4c1e-8d3f-%012d", n))
		p.ResourceVersion = fmt.Sprint(1000 + n)
		p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply, APIVersion: "projectcontour.io/v1"}}
		return p
	}
	for r := range 1000 {
		root := fixture.Proxy("roots", fmt.Sprintf("root-%04d", r)).Created(5000 + r).FQDN(fmt.Sprintf("app-%04d.example.com", r)).TLS(fmt.Sprintf("tls-%04d", r))
		for c := range 4 {
			i := r*4 + c
			ns, name := fmt.Sprintf("team-%03d", i%100), fmt.Sprintf("child-%04d", i)
			svc := "svc-" + name
			out = append(out, stored(fixture.Proxy(ns, name).Created(i).Route(svc, 80, fixture.Prefix("/a")).Route(svc, 80, fixture.Prefix("/b")).Obj(), i))
			root.Include(ns, name, fixture.Prefix(fmt.Sprintf("/c%d", c)))
		}
		out = append(out, stored(root.Obj(), 5000+r))
	}
	return out
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkProxyInputRetained measures what the inventory keeps per HTTPProxy for its Rego
// input (proxyEntry.objectValue), over the 5,000 proxies of scaleProxies: the heap retained
// once every value is built, and the time to build one.
func BenchmarkProxyInputRetained(b *testing.B) {
	proxies := scaleProxies()
	var retained uint64
	var build time.Duration
	for b.Loop() {
		terms := &termInterner{}
		entries := make([]*proxyEntry, len(proxies))
		for i, p := range proxies {
			entries[i] = newProxyEntry(p)
		}
		before := heapAlloc()
		start := time.Now()
		for _, e := range entries {
			e.objectValue(terms)
		}
		build += time.Since(start)
		retained += heapAlloc() - before
		runtime.KeepAlive(entries)
		runtime.KeepAlive(terms)
	}
	n := float64(b.N * len(proxies))
	b.ReportMetric(float64(retained)/n, "retained-B/proxy")
	b.ReportMetric(float64(build.Nanoseconds())/n, "build-ns/proxy")
}

// TestObjectValueIsTheCleanedJSON checks objectValue against the plain construction: the
// object's JSON, through ast.InterfaceToValue, without status, managedFields,
// resourceVersion and the last-applied annotation (and without annotations left empty).
func TestObjectValueIsTheCleanedJSON(t *testing.T) {
	withMeta := func(p *contourv1.HTTPProxy, annotations map[string]string) *contourv1.HTTPProxy {
		p.UID, p.ResourceVersion, p.Annotations = "u-1", "42", annotations
		p.Labels = map[string]string{"app": "web", "tier": "edge"}
		p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}
		p.Status.CurrentStatus, p.Status.Description = "valid", "Valid HTTPProxy"
		return p
	}
	root := fixture.Proxy("roots", "app").Created(7).FQDN("app.example.com").TLS("certs/wildcard").
		Include("team-a", "web", fixture.Prefix("/shop")).RouteWith(func(r *contourv1.Route) {
		r.PermitInsecure, r.Services = true, []contourv1.Service{{Name: "web", Port: 8443, Weight: 3, Mirror: true}}
	}).Obj()
	cases := map[string]client.Object{
		"root_with_annotations": withMeta(root.DeepCopy(), map[string]string{lastApplied: "{}", "team": "a"}),
		"only_last_applied":     withMeta(root.DeepCopy(), map[string]string{lastApplied: "{}"}),
		"bare_child":            fixture.Proxy("team-a", "web").Route("web", 80).Obj(),
		"delegation":            fixture.Delegation("certs", "wildcard", "wildcard", "*"),
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			c := o.DeepCopyObject().(client.Object)
			c.SetManagedFields(nil)
			c.SetResourceVersion("")
			if a := c.GetAnnotations(); a != nil {
				delete(a, lastApplied)
			}
			want := mustValue(c).(ast.Object)
			if s := want.Get(ast.StringTerm("status")); s != nil {
				want = want.Diff(ast.NewObject([2]*ast.Term{ast.StringTerm("status"), s}))
			}
			for _, terms := range []*termInterner{nil, {}} {
				if got := objectValue(o, terms); ast.Compare(want, got) != 0 {
					t.Errorf("objectValue (interner %v):\n got %v\nwant %v", terms != nil, got, want)
				}
			}
		})
	}
}
