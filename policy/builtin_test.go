package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/projectwarden/warden/policy/fixture"
)

// TestBuiltinSetsLeftOutAreEmpty judges proxies that break every kind of built-in rule,
// under every operation, and checks that evaluating only the rule sets the rule index
// selects gives exactly what evaluating all of them gives.
func TestBuiltinSetsLeftOutAreEmpty(t *testing.T) {
	s := Settings{RootNamespaces: []string{"roots"}, DisablePermitInsecure: true}
	d, err := NewDecider(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	mirror := contourv1.Service{Name: "web", Port: 80, Mirror: true}
	objs := []client.Object{
		fixture.Namespace("roots"), fixture.Namespace("team"), fixture.Service("team", "web", 80),
		fixture.Secret("certs", "wildcard"), fixture.Delegation("certs", "wildcard", "wildcard", "other"),
		fixture.Proxy("roots", "valid").Created(1).FQDN("valid.example.com").Include("team", "child", fixture.Prefix("/a")).Obj(),
		fixture.Proxy("team", "child").Created(2).Route("web", 80).Obj(),
		fixture.Proxy("roots", "dup").Created(3).FQDN("valid.example.com").Route("web", 80).Obj(),
		fixture.Proxy("team", "not-a-root-ns").Created(4).FQDN("x.example.com").Route("web", 80).Obj(),
		fixture.Proxy("roots", "empty").Created(5).FQDN("").Obj(),
		fixture.Proxy("roots", "tls").Created(6).FQDN("tls.example.com").TLS("certs/wildcard").TLSWith(func(t *contourv1.TLS) {
			t.Passthrough, t.EnableFallbackCertificate, t.MinimumProtocolVersion = true, true, "1.3"
			t.MaximumProtocolVersion, t.ClientValidation = "1.2", &contourv1.DownstreamValidation{}
		}).Include("team", "missing", fixture.Prefix("/a")).Include("roots", "valid", fixture.Prefix("/a")).Obj(),
		fixture.Proxy("roots", "tcp").Created(7).FQDN("tcp.example.com").
			TCPProxy(contourv1.TCPProxy{Services: []contourv1.Service{{Name: "gone", Port: 9}}, Include: &contourv1.TCPProxyInclude{Name: "child"}}).Obj(),
		fixture.Proxy("team", "routes").Created(8).RouteWith(func(r *contourv1.Route) {
			r.PermitInsecure, r.Services = true, []contourv1.Service{mirror, mirror}
		}).RouteWith(func(*contourv1.Route) {}).Route("web", 81, fixture.Prefix("x")).Obj(),
		fixture.Proxy("team", "a").Created(9).Include("team", "b").Obj(),
		fixture.Proxy("team", "b").Created(10).Include("team", "a").Obj(),
	}
	for _, o := range objs {
		if err := d.Apply(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
	b := d.engine.builtin
	txn, err := d.engine.store.NewTransaction(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer d.engine.store.Abort(t.Context(), txn)
	rules, skipped := map[string]bool{}, 0
	for k, e := range d.inv.proxies {
		f := computeFacts(d.inv, d.settings, e)
		for _, op := range []Operation{Create, Update, Delete, Audit} {
			in := d.input(d.inv, op, "HTTPProxy", k, e.objectValue(d.inv.terms), nil, item("facts", f.value()))
			mask := b.candidates(in)
			wantDeny, wantWarn, err := b.evaluateSets(t.Context(), txn, in, b.all())
			if err != nil {
				t.Fatal(err)
			}
			deny, warn, err := b.evaluateSets(t.Context(), txn, in, mask)
			if err != nil {
				t.Fatal(err)
			}
			for _, vs := range []*[]Violation{&wantDeny, &wantWarn, &deny, &warn} {
				sortViolations(*vs)
			}
			if diff := cmp.Diff(wantDeny, deny); diff != "" {
				t.Errorf("%s %s: deny (-all sets +selected sets):\n%s", op, k, diff)
			}
			if diff := cmp.Diff(wantWarn, warn); diff != "" {
				t.Errorf("%s %s: warn (-all sets +selected sets):\n%s", op, k, diff)
			}
			for _, v := range append(wantDeny, wantWarn...) {
				rules[v.Rule] = true
			}
			if mask != b.all() {
				skipped++
			}
		}
	}
	if len(rules) < 17 || skipped == 0 {
		t.Errorf("the proxies broke %d rules and %d selections left a set out; the test no longer tests much", len(rules), skipped)
	}
}
