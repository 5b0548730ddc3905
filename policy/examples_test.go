package policy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/format"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	policyv1alpha1 "github.com/projectwarden/warden/apis/policy/v1alpha1"
	"github.com/projectwarden/warden/policy"
	fx "github.com/projectwarden/warden/policy/fixture"
)

// The example DelegationPolicies of docs/policy-authoring.md live in examples/policies/ as
// complete manifests. These tests load each one as kubectl would send it, admit it through
// Decide, apply it, and check what it does to concrete HTTPProxy changes, so the examples
// (and the decision contract the document describes) cannot silently rot.
const (
	examplesDir  = "../examples/policies"
	authoringDoc = "../docs/policy-authoring.md"
)

// exampleCase is one change judged with an example policy active.
type exampleCase struct {
	stored []client.Object
	// op defaults to Create. Audit stores obj and judges it as the controller does.
	op  policy.Operation
	obj client.Object
	old client.Object
	// denied are every rule ID that denies (built-in ones too: the worlds are built so that
	// only the example policy objects). For Audit, the denials that status reports as errors.
	denied []string
	// warned are the example policy's warnings (built-in warnings are ignored).
	warned []string
	// audited are, for Audit, the findings of policies in audit mode.
	audited []string
	// message is one complete line as kubectl shows it or, for Audit, one status
	// sub-condition message.
	message string
}

// examplePolicies maps each example's file name (without .yaml) to its cases.
var examplePolicies = map[string]func() map[string]exampleCase{
	"team-a-edge-only":       teamAEdgeOnlyCases,
	"insecure-internal-only": insecureInternalOnlyCases,
	"fqdn-team-subdomain":    fqdnTeamSubdomainCases,
	"max-includes-per-root":  maxIncludesPerRootCases,
	"roots-require-tls":      rootsRequireTLSCases,
	"protect-live-vhosts":    protectLiveVhostsCases,
}

func TestExamplePolicies(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".yaml"))
	}
	var tested []string
	for name := range examplePolicies {
		tested = append(tested, name)
	}
	slices.Sort(tested)
	if diff := cmp.Diff(tested, names); diff != "" {
		t.Errorf("every example policy needs cases here (-tested +files):\n%s", diff)
	}
	for name, cases := range examplePolicies {
		t.Run(name, func(t *testing.T) {
			runExample(t, loadExample(t, name), cases())
		})
	}
}

// loadExample decodes examples/policies/<name>.yaml strictly, as the API server would.
func loadExample(t testing.TB, name string) *policyv1alpha1.DelegationPolicy {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(examplesDir, name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var dp policyv1alpha1.DelegationPolicy
	if err := yaml.UnmarshalStrict(b, &dp); err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
	if dp.APIVersion != "policy.warden.dev/v1alpha1" || dp.Kind != "DelegationPolicy" || dp.Name != name {
		t.Fatalf("%s.yaml holds %s %s %q, want a policy.warden.dev/v1alpha1 DelegationPolicy named %q", name, dp.APIVersion, dp.Kind, dp.Name, name)
	}
	if dp.Spec.Tests == "" {
		t.Fatalf("%s.yaml has no spec.tests", name)
	}
	return &dp
}

func runExample(t *testing.T, dp *policyv1alpha1.DelegationPolicy, cases map[string]exampleCase) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := newDecider(t, policy.Settings{}, dp)
			for _, o := range tc.stored {
				if err := d.Apply(t.Context(), o); err != nil {
					t.Fatalf("applying %s: %v", o.GetName(), err)
				}
			}
			if tc.op == policy.Audit {
				judgeExample(t, d, tc)
				return
			}
			op := tc.op
			if op == "" {
				op = policy.Create
			}
			dec, err := d.Decide(t.Context(), policy.Change{Operation: op, Object: tc.obj, OldObject: tc.old})
			if err != nil {
				t.Fatal(err)
			}
			lines := append(dec.DenialMessages(), dec.WarningMessages()...)
			if diff := cmp.Diff(orEmpty(tc.denied), ruleIDs(dec.Denials)); diff != "" {
				t.Errorf("denied rules (-want +got):\n%s\n%s", diff, strings.Join(lines, "\n"))
			}
			if dec.Allowed != (len(tc.denied) == 0) {
				t.Errorf("Allowed = %v with denials %v", dec.Allowed, dec.DenialMessages())
			}
			if diff := cmp.Diff(orEmpty(tc.warned), adminRuleIDs(dec.Warnings)); diff != "" {
				t.Errorf("policy warnings (-want +got):\n%s\n%s", diff, strings.Join(lines, "\n"))
			}
			if tc.message != "" && !slices.Contains(lines, tc.message) {
				t.Errorf("no line is\n%s\ngot:\n%s", tc.message, strings.Join(lines, "\n"))
			}
		})
	}
}

// judgeExample stores tc.obj and judges it as the controller does (input.operation AUDIT).
func judgeExample(t *testing.T, d *policy.Decider, tc exampleCase) {
	t.Helper()
	if err := d.Apply(t.Context(), tc.obj); err != nil {
		t.Fatal(err)
	}
	v, err := d.Judge(t.Context(), policy.Key{Namespace: tc.obj.GetNamespace(), Name: tc.obj.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	var status []string
	for _, c := range v.Status.Conditions {
		for _, s := range append(c.Errors, c.Warnings...) {
			status = append(status, s.Message)
		}
	}
	if diff := cmp.Diff(orEmpty(tc.denied), ruleIDs(v.Denials)); diff != "" {
		t.Errorf("denied rules (-want +got):\n%s\n%s", diff, strings.Join(status, "\n"))
	}
	if v.Accepted() != (len(tc.denied) == 0) {
		t.Errorf("Accepted() = %v with denials %v", v.Accepted(), v.Denials)
	}
	if diff := cmp.Diff(orEmpty(tc.warned), adminRuleIDs(v.Warnings)); diff != "" {
		t.Errorf("policy warnings (-want +got):\n%s\n%s", diff, strings.Join(status, "\n"))
	}
	if diff := cmp.Diff(orEmpty(tc.audited), adminRuleIDs(v.Audits)); diff != "" {
		t.Errorf("audit findings (-want +got):\n%s\n%s", diff, strings.Join(status, "\n"))
	}
	if tc.message != "" && !slices.Contains(status, tc.message) {
		t.Errorf("no status message is\n%s\ngot:\n%s", tc.message, strings.Join(status, "\n"))
	}
}

// adminRuleIDs are the rule IDs of the violations that DelegationPolicies produced.
func adminRuleIDs(vs []policy.Violation) []string {
	var admin []policy.Violation
	for _, v := range vs {
		if v.Policy != "" {
			admin = append(admin, v)
		}
	}
	return ruleIDs(admin)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// insecure makes a route that accepts plain HTTP.
func insecure(r *contourv1.Route) {
	r.PermitInsecure = true
	r.Services = []contourv1.Service{{Name: "web", Port: 80}}
}

func teamAEdgeOnlyCases() map[string]exampleCase {
	world := []client.Object{
		fx.Namespace("edge", "tier", "edge"), fx.Namespace("roots"),
		fx.Namespace("team-a", "team", "team-a"), fx.Namespace("team-b", "team", "team-b"),
		fx.Service("team-a", "web", 80), fx.Service("team-b", "web", 80),
		fx.Proxy("team-a", "web").Created(1).Route("web", 80).Obj(),
		fx.Proxy("team-b", "web").Created(1).Route("web", 80).Obj(),
	}
	mid := fx.Proxy("team-b", "mid").Created(2).Route("web", 80).Obj()
	withMid := append(slices.Clone(world), mid, fx.Proxy("roots", "app").Created(3).FQDN("app.example.com").Include("team-b", "mid").Obj())
	rootIncludingTeamA := fx.Proxy("roots", "app").Created(2).FQDN("app.example.com").Include("team-a", "web").Obj()
	const rule = "policy team-a-edge-only/edge-roots-only"
	return map[string]exampleCase{
		"edge_root_may_include_team_a": {
			stored: world,
			obj:    fx.Proxy("edge", "app").FQDN("app.example.com").Include("team-a", "web").Obj(),
		},
		"other_root_may_not_include_team_a": {
			stored:  world,
			obj:     rootIncludingTeamA,
			denied:  []string{rule},
			message: "HTTPProxy roots/app: team-a/web belongs to team-a and may only be included by roots in namespaces labelled tier=edge; root roots/app is in namespace roots [policy team-a-edge-only/edge-roots-only]; fix: remove spec.includes[0], or include team-a/web from a root in a tier=edge namespace",
		},
		"other_root_may_include_other_teams": {
			stored: world,
			obj:    fx.Proxy("roots", "app").FQDN("app.example.com").Include("team-b", "web").Obj(),
		},
		"child_of_other_root_may_not_include_team_a": {
			stored:  withMid,
			op:      policy.Update,
			old:     mid,
			obj:     fx.Proxy("team-b", "mid").Created(2).Route("web", 80).Include("team-a", "web", fx.Prefix("/a")).Obj(),
			denied:  []string{rule},
			message: "HTTPProxy team-b/mid: team-a/web belongs to team-a and may only be included by roots in namespaces labelled tier=edge; root roots/app is in namespace roots [policy team-a-edge-only/edge-roots-only]; fix: remove spec.includes[0], or include team-a/web from a root in a tier=edge namespace",
		},
		"stored_offending_root_is_excluded_not_team_a": {
			stored:  world,
			op:      policy.Audit,
			obj:     rootIncludingTeamA,
			denied:  []string{rule},
			message: "DelegationPolicy team-a-edge-only: team-a/web belongs to team-a and may only be included by roots in namespaces labelled tier=edge; root roots/app is in namespace roots",
		},
		"team_a_proxy_itself_is_never_flagged": {
			stored: append(slices.Clone(world), rootIncludingTeamA),
			op:     policy.Audit,
			obj:    fx.Proxy("team-a", "web").Created(1).Route("web", 80).Obj(),
		},
		"deleting_offending_root_allowed": {
			stored: append(slices.Clone(world), rootIncludingTeamA),
			op:     policy.Delete,
			old:    rootIncludingTeamA,
		},
	}
}

func insecureInternalOnlyCases() map[string]exampleCase {
	world := []client.Object{fx.Service("roots", "web", 80), fx.Service("team-a", "web", 80)}
	internalRoot := fx.Proxy("roots", "internal").Created(1).FQDN("app.internal.example").Include("team-a", "web", fx.Prefix("/a")).Obj()
	publicRoot := fx.Proxy("roots", "public").Created(2).FQDN("app.example.com").Include("team-a", "web", fx.Prefix("/a")).Obj()
	child := fx.Proxy("team-a", "web").Created(3).RouteWith(insecure).Obj()
	const rule = "policy insecure-internal-only/internal-only"
	return map[string]exampleCase{
		"internal_root_may_permit_insecure": {
			stored: world,
			obj:    fx.Proxy("roots", "app").FQDN("app.internal.example").RouteWith(insecure).Obj(),
		},
		"public_root_may_not_permit_insecure": {
			stored:  world,
			obj:     fx.Proxy("roots", "app").FQDN("App.Example.com").Route("web", 80).RouteWith(insecure).Obj(),
			denied:  []string{rule},
			message: "HTTPProxy roots/app: spec.routes[1].permitInsecure is only allowed on *.internal.example, but this route is served on app.example.com [policy insecure-internal-only/internal-only]; fix: remove spec.routes[1].permitInsecure, or serve the route only from *.internal.example vhosts",
		},
		"public_root_without_permit_insecure_allowed": {
			stored: world,
			obj:    fx.Proxy("roots", "app").FQDN("app.example.com").Route("web", 80).Obj(),
		},
		"child_of_internal_root_may_permit_insecure": {
			stored: append(slices.Clone(world), internalRoot),
			obj:    child,
		},
		"child_also_served_publicly_may_not_permit_insecure": {
			stored:  append(slices.Clone(world), internalRoot, publicRoot),
			obj:     child,
			denied:  []string{rule},
			message: "HTTPProxy team-a/web: spec.routes[0].permitInsecure is only allowed on *.internal.example, but this route is served on app.example.com [policy insecure-internal-only/internal-only]; fix: remove spec.routes[0].permitInsecure, or serve the route only from *.internal.example vhosts",
		},
		"stored_child_later_included_by_public_root_is_excluded": {
			stored:  append(slices.Clone(world), publicRoot),
			op:      policy.Audit,
			obj:     child,
			denied:  []string{rule},
			message: "DelegationPolicy insecure-internal-only: spec.routes[0].permitInsecure is only allowed on *.internal.example, but this route is served on app.example.com",
		},
	}
}

func fqdnTeamSubdomainCases() map[string]exampleCase {
	world := []client.Object{
		fx.Namespace("team-a", "warden.dev/subdomain", "team-a.example.com"), fx.Namespace("team-x"),
		fx.Service("team-a", "web", 80), fx.Service("team-x", "web", 80),
	}
	root := func(ns, fqdn string) client.Object { return fx.Proxy(ns, "app").FQDN(fqdn).Route("web", 80).Obj() }
	return map[string]exampleCase{
		"subdomain_itself_allowed": {
			stored: world,
			obj:    root("team-a", "team-a.example.com"),
		},
		"name_below_subdomain_allowed_in_any_case": {
			stored: world,
			obj:    root("team-a", "Shop.EU.Team-A.example.com"),
		},
		"other_subdomain_denied": {
			stored:  world,
			obj:     root("team-a", "shop.team-b.example.com"),
			denied:  []string{"policy fqdn-team-subdomain/own-subdomain"},
			message: "HTTPProxy team-a/app: fqdn shop.team-b.example.com is outside team-a.example.com, the subdomain of namespace team-a [policy fqdn-team-subdomain/own-subdomain]; fix: use team-a.example.com or a name ending in .team-a.example.com",
		},
		"lookalike_suffix_denied": {
			stored: world,
			obj:    root("team-a", "evilteam-a.example.com"),
			denied: []string{"policy fqdn-team-subdomain/own-subdomain"},
		},
		"unlabelled_namespace_may_not_claim_fqdns": {
			stored:  world,
			obj:     root("team-x", "team-x.example.com"),
			denied:  []string{"policy fqdn-team-subdomain/subdomain-label"},
			message: "HTTPProxy team-x/app: namespace team-x has no warden.dev/subdomain label, so it may not claim fqdn team-x.example.com [policy fqdn-team-subdomain/subdomain-label]; fix: ask a cluster admin to label namespace team-x with the subdomain your team owns",
		},
		"unlabelled_namespace_may_hold_children": {
			stored: world,
			obj:    fx.Proxy("team-x", "web").Route("web", 80).Obj(),
		},
	}
}

func maxIncludesPerRootCases() map[string]exampleCase {
	world := []client.Object{fx.Service("team-a", "web", 80)}
	for _, n := range []string{"c0", "c1", "c2", "c3", "c4"} {
		world = append(world, fx.Proxy("team-a", n).Created(1).Route("web", 80).Obj())
	}
	root := func(ns string, n int) *contourv1.HTTPProxy {
		b := fx.Proxy(ns, "app").Created(2)
		if ns == "roots" {
			b.FQDN("app.example.com")
		}
		for i := range n {
			c := fmt.Sprintf("c%d", i)
			b.Include("team-a", c, fx.Prefix("/"+c))
		}
		return b.Obj()
	}
	const rule = "policy max-includes-per-root/max-includes"
	return map[string]exampleCase{
		"three_includes_allowed": {
			stored: world,
			obj:    root("roots", 3),
		},
		"four_includes_denied": {
			stored:  world,
			obj:     root("roots", 4),
			denied:  []string{rule},
			message: "HTTPProxy roots/app: a root may include at most 3 proxies; this one includes 4 [policy max-includes-per-root/max-includes]; fix: merge routes into fewer included proxies, or split the vhost",
		},
		"update_adding_a_fourth_include_denied": {
			stored: append(slices.Clone(world), root("roots", 3)),
			op:     policy.Update,
			old:    root("roots", 3),
			obj:    root("roots", 4),
			denied: []string{rule},
		},
		"update_of_root_stored_over_limit_allowed_when_not_growing": {
			stored: append(slices.Clone(world), root("roots", 5)),
			op:     policy.Update,
			old:    root("roots", 5),
			obj:    root("roots", 4),
		},
		"stored_root_over_limit_stays_served_with_a_warning": {
			stored:  world,
			op:      policy.Audit,
			obj:     root("roots", 5),
			warned:  []string{rule},
			message: "DelegationPolicy max-includes-per-root: a root may include at most 3 proxies; this one includes 5",
		},
		"non_root_may_include_more": {
			stored: world,
			obj:    root("team-b", 5),
		},
	}
}

func rootsRequireTLSCases() map[string]exampleCase {
	world := []client.Object{fx.Service("roots", "web", 80), fx.Secret("roots", "app-tls")}
	plain := fx.Proxy("roots", "app").FQDN("app.example.com").Route("web", 80).Obj()
	const rule = "policy roots-require-tls/tls"
	return map[string]exampleCase{
		"root_without_tls_warned_not_denied": {
			stored:  world,
			obj:     plain,
			warned:  []string{rule},
			message: "HTTPProxy roots/app: virtual host app.example.com is served over plain HTTP only [policy roots-require-tls/tls]; fix: set spec.virtualhost.tls.secretName; roots without TLS will soon be rejected",
		},
		"root_with_tls_passes": {
			stored: world,
			obj:    fx.Proxy("roots", "app").FQDN("app.example.com").TLS("app-tls").Route("web", 80).Obj(),
		},
		"stored_root_without_tls_warned_in_status": {
			stored:  world,
			op:      policy.Audit,
			obj:     plain,
			warned:  []string{rule},
			message: "DelegationPolicy roots-require-tls: virtual host app.example.com is served over plain HTTP only",
		},
	}
}

func protectLiveVhostsCases() map[string]exampleCase {
	web := fx.Proxy("team-a", "web").Created(2).Route("web", 80).Obj()
	leaf := fx.Proxy("team-a", "leaf").Created(2).Route("web", 80).Obj()
	mid := fx.Proxy("team-a", "mid").Created(2).Include("team-a", "leaf").Obj()
	unused := fx.Proxy("team-a", "unused").Created(2).Route("web", 80).Obj()
	grant := fx.Delegation("certs", "wildcard", "wildcard", "roots")
	world := []client.Object{
		fx.Service("roots", "web", 80), fx.Service("team-a", "web", 80), fx.Secret("certs", "wildcard"), grant,
		web, leaf, mid, unused,
		fx.Proxy("roots", "app").Created(1).FQDN("app.example.com").TLS("certs/wildcard").
			Include("team-a", "web", fx.Prefix("/web")).Include("team-a", "mid", fx.Prefix("/mid")).Obj(),
	}
	overridden := fx.Proxy("team-a", "web").Created(2).Route("web", 80).Obj()
	overridden.Annotations = map[string]string{"warden.dev/allow-breaking-change": "true"}
	const rule = "policy protect-live-vhosts/live-vhosts"
	return map[string]exampleCase{
		"deleting_included_proxy_denied": {
			stored:  world,
			op:      policy.Delete,
			old:     web,
			denied:  []string{rule},
			message: "HTTPProxy team-a/web: roots/app includes this proxy and serves app.example.com: its include would point at nothing (502) [policy protect-live-vhosts/live-vhosts]; fix: update roots/app first, or annotate this object with warden.dev/allow-breaking-change=true to accept the outage",
		},
		"deleting_proxy_others_depend_on_names_orphans": {
			stored:  world,
			op:      policy.Delete,
			old:     mid,
			denied:  []string{rule},
			message: "HTTPProxy team-a/mid: team-a/leaf would no longer be reachable from a root and would stop serving app.example.com [policy protect-live-vhosts/live-vhosts]; fix: update team-a/leaf first, or annotate this object with warden.dev/allow-breaking-change=true to accept the outage",
		},
		"deleting_annotated_proxy_allowed": {
			stored: append(slices.Clone(world), overridden),
			op:     policy.Delete,
			old:    overridden,
		},
		"deleting_unreached_proxy_allowed": {
			stored: world,
			op:     policy.Delete,
			old:    unused,
		},
		"deleting_delegation_live_vhost_uses_denied": {
			stored:  world,
			op:      policy.Delete,
			old:     grant,
			denied:  []string{rule},
			message: "TLSCertificateDelegation certs/wildcard: roots/app would lose the use of its TLS secret and stop serving app.example.com [policy protect-live-vhosts/live-vhosts]; fix: update roots/app first, or annotate this object with warden.dev/allow-breaking-change=true to accept the outage",
		},
		"widening_delegation_allowed": {
			stored: world,
			op:     policy.Update,
			old:    grant,
			obj:    fx.Delegation("certs", "wildcard", "wildcard", "roots", "team-a"),
		},
	}
}

// TestExamplePolicies_admission checks that each example is admitted as written, and that
// admission rejects it with a deliberately failing test or a syntax error, as kubectl apply
// would report it.
func TestExamplePolicies_admission(t *testing.T) {
	// breakTest replaces an expected value in one test of each example, so that test fails.
	breakTest := map[string]struct{ old, new, test string }{
		"team-a-edge-only":       {`v.rule == "edge-roots-only"`, `v.rule == "edge-roots"`, "test_other_root_may_not_include_team_a"},
		"insecure-internal-only": {`count(insecure_internal_only.deny) == 1`, `count(insecure_internal_only.deny) == 0`, "test_lookalike_suffix_is_not_internal"},
		"fqdn-team-subdomain":    {`== ["subdomain-label"]`, `== ["own-subdomain"]`, "test_unlabelled_namespace_denied"},
		"max-includes-per-root":  {`count(max_includes_per_root.deny) == 1`, `count(max_includes_per_root.deny) == 2`, "test_update_adding_fourth_include_denied"},
		"roots-require-tls":      {`served over plain HTTP only"]`, `served over HTTP"]`, "test_root_without_tls_flagged"},
		"protect-live-vhosts":    {`(502)",`, `(503)",`, "test_delete_of_included_proxy_denied"},
	}
	for name := range examplePolicies {
		t.Run(name, func(t *testing.T) {
			b, ok := breakTest[name]
			if !ok || strings.Count(loadExample(t, name).Spec.Tests, b.old) != 1 {
				t.Fatalf("breakTest[%q] must replace exactly one expected value in its spec.tests", name)
			}
			cases := map[string]struct {
				edit    func(*policyv1alpha1.DelegationPolicySpec)
				denied  []string
				message []string // substrings of the one denial line
			}{
				"as_written_admitted": {edit: func(*policyv1alpha1.DelegationPolicySpec) {}},
				"failing_test_rejected": {
					edit:    func(s *policyv1alpha1.DelegationPolicySpec) { s.Tests = strings.Replace(s.Tests, b.old, b.new, 1) },
					denied:  []string{"policy-tests-pass"},
					message: []string{"DelegationPolicy " + name + ": spec.tests failed: 1 of ", " failed: " + b.test + " (line ", "[policy-tests-pass]; fix: fix spec.rego or spec.tests; `opa test` runs them locally"},
				},
				"syntax_error_rejected": {
					edit:    func(s *policyv1alpha1.DelegationPolicySpec) { s.Rego += "\ndeny contains msg if {\n" },
					denied:  []string{"policy-compiles"},
					message: []string{"DelegationPolicy " + name + ": spec.rego does not compile: ", "rego_parse_error", "[policy-compiles]; fix: fix spec.rego; `opa check --strict` finds this locally"},
				},
			}
			for cname, tc := range cases {
				t.Run(cname, func(t *testing.T) {
					dp := loadExample(t, name)
					tc.edit(&dp.Spec)
					d := newDecider(t, policy.Settings{})
					dec, err := d.Decide(t.Context(), policy.Change{Operation: policy.Create, Object: dp})
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(orEmpty(tc.denied), ruleIDs(dec.Denials)); diff != "" {
						t.Fatalf("denied rules (-want +got):\n%s\n%s", diff, strings.Join(dec.DenialMessages(), "\n"))
					}
					for _, want := range tc.message {
						if !strings.Contains(dec.DenialMessages()[0], want) {
							t.Errorf("denial does not contain %q:\n%s", want, dec.DenialMessages()[0])
						}
					}
					if err := d.Apply(t.Context(), dp); (err != nil) != (len(tc.denied) > 0) || (err != nil && !policy.IsPolicyError(err)) {
						t.Errorf("Apply = %v, want a PolicyError exactly when admission denies", err)
					}
				})
			}
		})
	}
}

// TestExamplePolicies_enforcement switches roots-require-tls between the three enforcement
// modes and shows where its finding goes in each.
func TestExamplePolicies_enforcement(t *testing.T) {
	world := []client.Object{fx.Service("roots", "web", 80)}
	plain := fx.Proxy("roots", "app").FQDN("app.example.com").Route("web", 80).Obj()
	const rule = "policy roots-require-tls/tls"
	cases := map[policyv1alpha1.Enforcement]map[string]exampleCase{
		policyv1alpha1.EnforcementDeny: {
			"admission_denies":     {stored: world, obj: plain, denied: []string{rule}},
			"status_reports_error": {stored: world, op: policy.Audit, obj: plain, denied: []string{rule}},
		},
		policyv1alpha1.EnforcementWarn: {
			"admission_warns":        {stored: world, obj: plain, warned: []string{rule}},
			"status_reports_warning": {stored: world, op: policy.Audit, obj: plain, warned: []string{rule}},
		},
		policyv1alpha1.EnforcementAudit: {
			"admission_says_nothing": {stored: world, obj: plain},
			"status_reports_warning": {
				stored: world, op: policy.Audit, obj: plain, audited: []string{rule},
				message: "DelegationPolicy roots-require-tls: virtual host app.example.com is served over plain HTTP only",
			},
		},
	}
	for enforcement, cases := range cases {
		t.Run(string(enforcement), func(t *testing.T) {
			dp := loadExample(t, "roots-require-tls")
			dp.Spec.Enforcement = enforcement
			runExample(t, dp, cases)
		})
	}
}

// TestExamplePolicies_formatted keeps the examples' Rego as `opa fmt` writes it.
func TestExamplePolicies_formatted(t *testing.T) {
	for name := range examplePolicies {
		dp := loadExample(t, name)
		for field, src := range map[string]string{"spec.rego": dp.Spec.Rego, "spec.tests": dp.Spec.Tests} {
			got, err := format.SourceWithOpts(name+".rego", []byte(src), format.Opts{RegoVersion: ast.RegoV1})
			if err != nil {
				t.Errorf("%s %s: %v", name, field, err)
				continue
			}
			if diff := cmp.Diff(src, string(got)); diff != "" {
				t.Errorf("%s %s is not formatted as opa fmt would (-have +opa fmt):\n%s", name, field, diff)
			}
		}
	}
}

// TestExamplePolicies_documented checks that docs/policy-authoring.md quotes every example
// exactly as it is in examples/policies.
func TestExamplePolicies_documented(t *testing.T) {
	doc, err := os.ReadFile(authoringDoc)
	if err != nil {
		t.Fatal(err)
	}
	for name := range examplePolicies {
		b, err := os.ReadFile(filepath.Join(examplesDir, name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), "```yaml\n"+string(b)+"```\n") {
			t.Errorf("%s does not quote examples/policies/%s.yaml verbatim in a ```yaml block", authoringDoc, name)
		}
	}
}
