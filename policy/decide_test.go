package policy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/projectwarden/warden/policy"
	fx "github.com/projectwarden/warden/policy/fixture"
)

// newDecider returns a Decider holding stored, applied in order.
func newDecider(t testing.TB, s policy.Settings, stored ...client.Object) *policy.Decider {
	t.Helper()
	d, err := policy.NewDecider(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range stored {
		if err := d.Apply(t.Context(), o); err != nil {
			t.Fatalf("applying %s: %v", o.GetName(), err)
		}
	}
	return d
}

func ruleIDs(vs []policy.Violation) []string {
	ids := []string{}
	for _, v := range vs {
		if !slices.Contains(ids, v.RuleID()) {
			ids = append(ids, v.RuleID())
		}
	}
	slices.Sort(ids)
	return ids
}

type decideCase struct {
	settings policy.Settings
	stored   []client.Object
	op       policy.Operation // default Create
	obj      client.Object
	old      client.Object
	denied   []string // rule ids
	warned   []string // rule ids
	message  string   // a substring of one denial or warning line
}

func runDecide(t *testing.T, cases map[string]decideCase) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := newDecider(t, tc.settings, tc.stored...)
			op := tc.op
			if op == "" {
				op = policy.Create
			}
			dec, err := d.Decide(t.Context(), policy.Change{Operation: op, Object: tc.obj, OldObject: tc.old})
			if err != nil {
				t.Fatal(err)
			}
			want := tc.denied
			if want == nil {
				want = []string{}
			}
			if diff := cmp.Diff(want, ruleIDs(dec.Denials)); diff != "" {
				t.Errorf("denied rules (-want +got):\n%s\n%s", diff, strings.Join(dec.DenialMessages(), "\n"))
			}
			if dec.Allowed != (len(tc.denied) == 0) {
				t.Errorf("Allowed = %v with denials %v", dec.Allowed, dec.DenialMessages())
			}
			want = tc.warned
			if want == nil {
				want = []string{}
			}
			if diff := cmp.Diff(want, ruleIDs(dec.Warnings)); diff != "" {
				t.Errorf("warned rules (-want +got):\n%s\n%s", diff, strings.Join(dec.WarningMessages(), "\n"))
			}
			if tc.message != "" {
				all := append(dec.DenialMessages(), dec.WarningMessages()...)
				if !slices.ContainsFunc(all, func(m string) bool { return strings.Contains(m, tc.message) }) {
					t.Errorf("no message contains %q:\n%s", tc.message, strings.Join(all, "\n"))
				}
			}
		})
	}
}

var (
	roots   = policy.Settings{RootNamespaces: []string{"roots", "marketing"}}
	svcA    = fx.Service("team-a", "web", 80)
	svcRoot = fx.Service("roots", "web", 80)
	child   = fx.Proxy("team-a", "child").Created(1).Route("web", 80).Obj()
)

func TestDecide_inclusion(t *testing.T) {
	runDecide(t, map[string]decideCase{
		"root_outside_root_namespace_denied": {
			settings: roots,
			stored:   []client.Object{svcA},
			obj:      fx.Proxy("team-a", "app").FQDN("app.example.com").Route("web", 80).Obj(),
			denied:   []string{"root-namespace"},
			message:  "HTTPProxy team-a/app: root HTTPProxy cannot be defined in this namespace [root-namespace]; fix: root HTTPProxies may only live in namespaces roots, marketing",
		},
		"root_in_root_namespace_allowed": {
			settings: roots,
			stored:   []client.Object{svcRoot},
			obj:      fx.Proxy("roots", "app").FQDN("app.example.com").Route("web", 80).Obj(),
		},
		"any_namespace_may_hold_roots_when_unconfigured": {
			stored: []client.Object{svcA},
			obj:    fx.Proxy("team-a", "app").FQDN("app.example.com").Route("web", 80).Obj(),
		},
		"second_root_for_owned_fqdn_denied": {
			settings: roots,
			stored:   []client.Object{fx.Service("marketing", "web", 80), fx.Proxy("roots", "first").Created(1).FQDN("app.example.com").Route("web", 80).Obj()},
			obj:      fx.Proxy("marketing", "second").FQDN("App.Example.com").Route("web", 80).Obj(),
			denied:   []string{"duplicate-fqdn"},
			message:  `fqdn "app.example.com" is used in multiple HTTPProxies: marketing/second, roots/first [duplicate-fqdn]; fix: roots/first claimed "app.example.com" first`,
		},
		"create_in_the_same_second_as_the_owner_is_still_the_duplicate": {
			settings: roots,
			stored:   []client.Object{fx.Service("marketing", "web", 80), fx.Proxy("roots", "shop").Created(5).FQDN("shop.example.com").Route("web", 80).Obj()},
			obj:      fx.Proxy("marketing", "copy").Created(5).FQDN("shop.example.com").Route("web", 80).Obj(),
			denied:   []string{"duplicate-fqdn"},
		},
		"update_of_fqdn_owner_allowed": {
			settings: roots,
			stored:   []client.Object{svcRoot, fx.Proxy("roots", "first").Created(1).FQDN("app.example.com").Route("web", 80).Obj()},
			op:       policy.Update,
			obj:      fx.Proxy("roots", "first").Created(1).FQDN("app.example.com").Route("web", 80).Route("web", 80, fx.Prefix("/x")).Obj(),
		},
		"fqdn_knockout_from_non_root_namespace_cannot_take_fqdn": {
			settings: roots,
			stored:   []client.Object{svcRoot, svcA, fx.Proxy("team-a", "squatter").Created(1).FQDN("app.example.com").Route("web", 80).Obj()},
			obj:      fx.Proxy("roots", "app").FQDN("app.example.com").Route("web", 80).Obj(),
		},
		"root_without_fqdn_denied": {
			stored: []client.Object{svcA},
			obj:    fx.Proxy("team-a", "app").FQDN("").Route("web", 80).Obj(),
			denied: []string{"fqdn-required"},
		},
		"root_with_nothing_defined_denied": {
			obj:    fx.Proxy("roots", "app").FQDN("app.example.com").Obj(),
			denied: []string{"nothing-defined"},
		},
		"child_with_nothing_defined_is_only_orphaned": {
			obj:    fx.Proxy("team-a", "empty").Obj(),
			warned: []string{"orphaned"},
		},
		"include_of_missing_proxy_warns": {
			stored:  []client.Object{svcRoot},
			obj:     fx.Proxy("roots", "app").FQDN("app.example.com").Include("team-a", "child", fx.Prefix("/a")).Obj(),
			warned:  []string{"include-not-found"},
			message: "include team-a/child not found [include-not-found]",
		},
		"child_before_root_warns_orphaned": {
			stored:  []client.Object{svcA},
			obj:     child,
			warned:  []string{"orphaned"},
			message: "HTTPProxy team-a/child: this HTTPProxy is not part of a delegation chain from a root HTTPProxy [orphaned]",
		},
		"root_including_root_denied": {
			stored:  []client.Object{svcRoot, fx.Proxy("roots", "other").Created(1).FQDN("other.example.com").Route("web", 80).Obj()},
			obj:     fx.Proxy("roots", "app").FQDN("app.example.com").Include("roots", "other").Obj(),
			denied:  []string{"root-includes-root"},
			message: "root httpproxy cannot include another root httpproxy (roots/other)",
		},
		"root_including_itself_denied": {
			obj:    fx.Proxy("roots", "app").FQDN("app.example.com").Include("", "app").Obj(),
			denied: []string{"include-cycle", "root-includes-root"},
		},
		"included_proxy_becoming_root_denied": {
			stored: []client.Object{svcA, svcRoot, child, fx.Proxy("roots", "app").Created(2).FQDN("app.example.com").Include("team-a", "child").Obj()},
			op:     policy.Update,
			obj:    fx.Proxy("team-a", "child").Created(1).FQDN("child.example.com").Route("web", 80).Obj(),
			old:    child,
			denied: []string{"root-includes-root"},
		},
		"include_cycle_denied": {
			stored: []client.Object{
				fx.Proxy("team-a", "a").Created(1).Include("team-b", "b").Obj(),
				fx.Proxy("team-b", "b").Created(2).Include("team-c", "c").Obj(),
			},
			obj:     fx.Proxy("team-c", "c").Include("team-a", "a").Obj(),
			denied:  []string{"include-cycle"},
			warned:  []string{"orphaned"},
			message: "include creates an include cycle: team-c/c -> team-a/a -> team-b/b -> team-c/c",
		},
		"include_exact_condition_denied": {
			stored:  []client.Object{child},
			obj:     fx.Proxy("roots", "app").FQDN("app.example.com").Include("team-a", "child", fx.Exact("/a")).Obj(),
			denied:  []string{"include-conditions"},
			message: "include: exact conditions are not allowed in includes block",
		},
		"include_regex_condition_denied": {
			stored: []client.Object{child},
			obj:    fx.Proxy("roots", "app").FQDN("app.example.com").Include("team-a", "child", fx.Regex("/a.*")).Obj(),
			denied: []string{"include-conditions"},
		},
		"include_prefix_without_slash_denied": {
			stored:  []client.Object{child},
			obj:     fx.Proxy("roots", "app").FQDN("app.example.com").Include("team-a", "child", fx.Prefix("a")).Obj(),
			denied:  []string{"include-conditions"},
			message: "include: prefix conditions must start with /, a was supplied",
		},
		"include_two_prefixes_denied": {
			stored:  []client.Object{child},
			obj:     fx.Proxy("roots", "app").FQDN("app.example.com").Include("team-a", "child", fx.Prefix("/a"), fx.Prefix("/b")).Obj(),
			denied:  []string{"include-conditions"},
			message: "include: more than one prefix, exact or regex is not allowed in a condition block",
		},
		"include_contradictory_headers_denied": {
			stored: []client.Object{child},
			obj: fx.Proxy("roots", "app").FQDN("app.example.com").Include("team-a", "child",
				fx.Header(contourv1.HeaderMatchCondition{Name: "x", Present: true}),
				fx.Header(contourv1.HeaderMatchCondition{Name: "X", NotPresent: true})).Obj(),
			denied:  []string{"include-conditions"},
			message: "cannot specify contradictory 'present' and 'notpresent' conditions",
		},
		"include_empty_query_matcher_denied": {
			stored:  []client.Object{child},
			obj:     fx.Proxy("roots", "app").FQDN("app.example.com").Include("team-a", "child", fx.Query(contourv1.QueryParameterMatchCondition{Name: "q"})).Obj(),
			denied:  []string{"include-conditions"},
			message: "must specify at least one query parameter condition",
		},
		"duplicate_sibling_include_conditions_denied": {
			stored: []client.Object{child, fx.Proxy("team-a", "other").Created(2).Route("web", 80).Obj()},
			obj: fx.Proxy("roots", "app").FQDN("app.example.com").
				Include("team-a", "child", fx.Prefix("/a")).Include("team-a", "other", fx.Prefix("/a")).Obj(),
			denied:  []string{"duplicate-include-conditions"},
			message: "spec.includes[1] (team-a/other) has the same conditions as spec.includes[0]",
		},
		"sibling_includes_without_conditions_are_not_duplicates": {
			stored: []client.Object{svcA, child, fx.Proxy("team-a", "other").Created(2).Route("web", 80).Obj()},
			obj: fx.Proxy("roots", "app").FQDN("app.example.com").
				Include("team-a", "child").Include("team-a", "other", fx.Prefix("/")).Obj(),
		},
		"route_header_conflict_along_include_chain_warns": {
			stored: []client.Object{svcA, fx.Proxy("roots", "app").Created(1).FQDN("app.example.com").
				Include("team-a", "child", fx.Header(contourv1.HeaderMatchCondition{Name: "x-env", Exact: "prod"})).Obj()},
			obj:     fx.Proxy("team-a", "child").Route("web", 80, fx.Header(contourv1.HeaderMatchCondition{Name: "X-Env", Exact: "dev"})).Obj(),
			warned:  []string{"include-chain-conditions"},
			message: "cannot specify duplicate header 'exact match' conditions in the same route [include-chain-conditions]; fix: spec.routes[0] conflicts with the include conditions along roots/app -> team-a/child",
		},
	})
}
