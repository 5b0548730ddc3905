package policy_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/projectwarden/warden/policy"
	fx "github.com/projectwarden/warden/policy/fixture"
)

// gotStatus is the part of a status that tests compare.
type gotStatus struct {
	Current  string
	Errors   []string // type/reason
	Warnings []string
}

func summarize(st contourv1.HTTPProxyStatus) gotStatus {
	g := gotStatus{Current: st.CurrentStatus}
	for _, c := range st.Conditions {
		for _, e := range c.Errors {
			g.Errors = append(g.Errors, e.Type+"/"+e.Reason)
		}
		for _, w := range c.Warnings {
			g.Warnings = append(g.Warnings, w.Type+"/"+w.Reason)
		}
	}
	return g
}

func TestJudge_status(t *testing.T) {
	cases := map[string]struct {
		settings policy.Settings
		stored   []client.Object
		want     map[string]gotStatus // "ns/name" -> status
	}{
		"root_and_child_valid": {
			stored: []client.Object{svcA, child, fx.Proxy("roots", "app").Created(2).FQDN("app.example.com").Include("team-a", "child", fx.Prefix("/a")).Obj()},
			want: map[string]gotStatus{
				"roots/app":    {Current: "valid"},
				"team-a/child": {Current: "valid"},
			},
		},
		"later_duplicate_root_alone_invalid": {
			settings: roots,
			stored: []client.Object{svcRoot,
				fx.Proxy("roots", "first").Created(1).FQDN("app.example.com").Route("web", 80).Obj(),
				fx.Proxy("roots", "second").Created(2).FQDN("app.example.com").Route("web", 80).Obj()},
			want: map[string]gotStatus{
				"roots/first":  {Current: "valid"},
				"roots/second": {Current: "invalid", Errors: []string{"VirtualHostError/DuplicateVhost"}},
			},
		},
		"same_second_duplicates_are_ordered_by_namespace_and_name_whatever_the_arrival": {
			stored: []client.Object{fx.Service("marketing", "web", 80), svcRoot,
				fx.Proxy("roots", "shop").Created(1).FQDN("shop.example.com").Route("web", 80).Obj(),
				fx.Proxy("marketing", "copy").Created(1).FQDN("shop.example.com").Route("web", 80).Obj()},
			want: map[string]gotStatus{
				"marketing/copy": {Current: "valid"},
				"roots/shop":     {Current: "invalid", Errors: []string{"VirtualHostError/DuplicateVhost"}},
			},
		},
		"fqdn_knockout_from_non_root_namespace_does_not_invalidate_root": {
			settings: roots,
			stored: []client.Object{svcRoot, svcA,
				fx.Proxy("team-a", "squatter").Created(1).FQDN("app.example.com").Route("web", 80).Obj(),
				fx.Proxy("roots", "app").Created(2).FQDN("app.example.com").Route("web", 80).Obj()},
			want: map[string]gotStatus{
				"roots/app":       {Current: "valid"},
				"team-a/squatter": {Current: "invalid", Errors: []string{"RootNamespaceError/RootProxyNotAllowedInNamespace"}},
			},
		},
		"child_of_root_outside_root_namespaces_orphaned": {
			settings: roots,
			stored:   []client.Object{svcA, child, fx.Proxy("team-a", "app").Created(2).FQDN("app.example.com").Include("", "child").Obj()},
			want: map[string]gotStatus{
				"team-a/app":   {Current: "invalid", Errors: []string{"RootNamespaceError/RootProxyNotAllowedInNamespace"}},
				"team-a/child": {Current: "orphaned", Errors: []string{"Orphaned/Orphaned"}},
			},
		},
		"includer_of_missing_proxy_invalid": {
			stored: []client.Object{fx.Proxy("roots", "app").Created(1).FQDN("app.example.com").Include("team-a", "gone", fx.Prefix("/a")).Obj()},
			want: map[string]gotStatus{
				"roots/app": {Current: "invalid", Errors: []string{"IncludeError/IncludeNotFound"}},
			},
		},
		"cycle_members_invalid_and_unreached": {
			stored: []client.Object{
				fx.Proxy("roots", "app").Created(1).FQDN("app.example.com").Include("team-a", "a").Obj(),
				fx.Proxy("team-a", "a").Created(2).Include("team-a", "b").Obj(),
				fx.Proxy("team-a", "b").Created(3).Include("team-a", "a").Obj()},
			want: map[string]gotStatus{
				"roots/app": {Current: "valid"},
				"team-a/a":  {Current: "invalid", Errors: []string{"IncludeError/IncludeCreatesCycle"}},
				"team-a/b":  {Current: "invalid", Errors: []string{"IncludeError/IncludeCreatesCycle"}},
			},
		},
		"missing_tls_delegation_invalidates_root_and_orphans_children": {
			stored: []client.Object{svcA, child, fx.Secret("certs", "wild"),
				fx.Proxy("roots", "app").Created(2).FQDN("app.example.com").TLS("certs/wild").Include("team-a", "child").Obj()},
			want: map[string]gotStatus{
				"roots/app":    {Current: "invalid", Errors: []string{"TLSError/DelegationNotPermitted"}},
				"team-a/child": {Current: "orphaned", Errors: []string{"Orphaned/Orphaned"}},
			},
		},
		"route_conflicting_with_include_chain_invalid": {
			stored: []client.Object{svcA,
				fx.Proxy("roots", "app").Created(1).FQDN("app.example.com").
					Include("team-a", "child", fx.Header(contourv1.HeaderMatchCondition{Name: "x-env", Present: true})).Obj(),
				fx.Proxy("team-a", "child").Created(2).Route("web", 80, fx.Header(contourv1.HeaderMatchCondition{Name: "x-env", NotPresent: true})).Obj()},
			want: map[string]gotStatus{
				"roots/app":    {Current: "valid"},
				"team-a/child": {Current: "invalid", Errors: []string{"RouteError/HeaderMatchConditionsNotValid"}},
			},
		},
		"permit_insecure_ignored_with_status_warning_when_disabled": {
			settings: policy.Settings{DisablePermitInsecure: true},
			stored: []client.Object{svcRoot, fx.Proxy("roots", "app").Created(1).FQDN("app.example.com").RouteWith(func(r *contourv1.Route) {
				r.Services = []contourv1.Service{{Name: "web", Port: 80}}
				r.PermitInsecure = true
			}).Obj()},
			want: map[string]gotStatus{
				"roots/app": {Current: "valid", Warnings: []string{"SpecError/IgnoredField"}},
			},
		},
		"child_reached_by_two_roots_valid": {
			stored: []client.Object{svcA, child,
				fx.Proxy("roots", "one").Created(2).FQDN("one.example.com").Include("team-a", "child").Obj(),
				fx.Proxy("roots", "two").Created(3).FQDN("two.example.com").Include("team-a", "child").Obj()},
			want: map[string]gotStatus{
				"roots/one": {Current: "valid"}, "roots/two": {Current: "valid"}, "team-a/child": {Current: "valid"},
			},
		},
		"missing_service_invalidates_route_owner": {
			stored: []client.Object{fx.Proxy("roots", "app").Created(1).FQDN("app.example.com").Route("web", 80).Obj()},
			want: map[string]gotStatus{
				"roots/app": {Current: "invalid", Errors: []string{"ServiceError/ServiceUnresolvedReference"}},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := newDecider(t, tc.settings, tc.stored...)
			got := map[string]gotStatus{}
			for _, k := range d.Inventory().ProxyKeys() {
				v, err := d.Judge(t.Context(), k)
				if err != nil {
					t.Fatal(err)
				}
				got[k.String()] = summarize(v.Status)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}

// TestJudge_matchesAdmission is the "admission is a dry run" property on one scenario:
// every object applied in order is judged, once stored, as admission answered it.
func TestJudge_matchesAdmission(t *testing.T) {
	d := newDecider(t, roots)
	objs := []client.Object{
		svcA, svcRoot,
		fx.Proxy("team-a", "child").Created(1).Route("web", 80).Obj(),
		fx.Proxy("roots", "app").Created(2).FQDN("app.example.com").Include("team-a", "child", fx.Prefix("/a")).Obj(),
		fx.Proxy("team-a", "rogue").Created(3).FQDN("app.example.com").Route("web", 80).Obj(),
	}
	for _, o := range objs {
		p, ok := o.(*contourv1.HTTPProxy)
		if !ok {
			if err := d.Apply(t.Context(), o); err != nil {
				t.Fatal(err)
			}
			continue
		}
		dec, err := d.Decide(t.Context(), policy.Change{Operation: policy.Create, Object: p})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Apply(t.Context(), p); err != nil { // stored as if the webhook were absent
			t.Fatal(err)
		}
		v, err := d.Judge(t.Context(), policy.Key{Namespace: p.Namespace, Name: p.Name})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(ruleIDs(dec.Denials), ruleIDs(v.Denials)); diff != "" {
			t.Errorf("%s: admission and audit disagree on denials (-admission +audit):\n%s", p.Name, diff)
		}
	}
}

func TestDecide_impact(t *testing.T) {
	app := fx.Proxy("roots", "app").Created(2).FQDN("app.example.com").TLS("certs/wild").Include("team-a", "child", fx.Prefix("/a")).Obj()
	deleg := fx.Delegation("certs", "d", "wild", "roots")
	runDecide(t, map[string]decideCase{
		"deleting_included_child_warns_with_vhost": {
			stored:  []client.Object{svcA, child, fx.Secret("certs", "wild"), deleg, app},
			op:      policy.Delete,
			old:     child,
			warned:  []string{"impact"},
			message: "HTTPProxy team-a/child: roots/app includes it and will answer 502 for that include (serving app.example.com) [impact]",
		},
		"deleting_delegation_live_roots_use_warns": {
			stored:  []client.Object{svcA, child, fx.Secret("certs", "wild"), deleg, app},
			op:      policy.Delete,
			old:     deleg,
			warned:  []string{"impact"},
			message: "TLSCertificateDelegation certs/d: roots/app will lose the use of its TLS secret and stop being served (app.example.com) [impact]",
		},
		"deleting_unused_delegation_is_silent": {
			stored: []client.Object{fx.Secret("certs", "wild"), deleg},
			op:     policy.Delete,
			old:    deleg,
		},
		"deleting_root_orphans_children_warns": {
			stored:  []client.Object{svcA, child, fx.Secret("certs", "wild"), deleg, app},
			op:      policy.Delete,
			old:     app,
			warned:  []string{"impact"},
			message: "team-a/child will no longer be reachable from a root (it serves app.example.com)",
		},
		"update_removing_an_include_warns_about_orphaned_child": {
			stored:  []client.Object{svcA, child, fx.Secret("certs", "wild"), deleg, app},
			op:      policy.Update,
			old:     app,
			obj:     fx.Proxy("roots", "app").Created(2).FQDN("app.example.com").TLS("certs/wild").Route("web", 80).Obj(),
			warned:  []string{"impact", "service-not-found"},
			message: "HTTPProxy roots/app: team-a/child will no longer be reachable from a root (it serves app.example.com) [impact]",
		},
		"delegation_with_star_among_namespaces_warns": {
			stored:  []client.Object{fx.Secret("certs", "wild")},
			obj:     fx.Delegation("certs", "d", "wild", "*", "roots"),
			warned:  []string{"delegation-wildcard"},
			message: `"*" is a wildcard only when it is the only target namespace`,
		},
	})
}

func TestDecide_affectedVerdicts(t *testing.T) {
	d := newDecider(t, policy.Settings{}, svcA, child)
	dec, err := d.Decide(t.Context(), policy.Change{Operation: policy.Create, JudgeAffected: true,
		Object: fx.Proxy("roots", "app").FQDN("app.example.com").Include("team-a", "child").Obj()})
	if err != nil {
		t.Fatal(err)
	}
	if len(dec.Affected) != 1 || dec.Affected[0].Key.String() != "team-a/child" {
		t.Fatalf("Affected = %+v, want team-a/child", dec.Affected)
	}
	if got := dec.Affected[0].Status.CurrentStatus; got != policy.StatusValid {
		t.Errorf("team-a/child would be %q once the root is stored, want valid", got)
	}
	// The decision must not have stored anything.
	if v, _ := d.Judge(t.Context(), policy.Key{Namespace: "team-a", Name: "child"}); v.Status.CurrentStatus != policy.StatusOrphaned {
		t.Errorf("stored child is %q, want still orphaned", v.Status.CurrentStatus)
	}
}
