package policy

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"

	"github.com/projectwarden/warden/policy/fixture"
)

// TestConditionsTermIsTheirJSON checks the direct rendering of match conditions against
// their JSON.
func TestConditionsTermIsTheirJSON(t *testing.T) {
	cases := map[string][]contourv1.MatchCondition{
		"none":  nil,
		"empty": {},
		"paths": {fixture.Prefix("/a"), fixture.Exact("/b"), fixture.Regex("/c.*"), {}},
		"header and query": {fixture.Prefix("/a"),
			fixture.Header(contourv1.HeaderMatchCondition{Name: "x-team", Exact: "a"}),
			fixture.Query(contourv1.QueryParameterMatchCondition{Name: "q", Prefix: "v"})},
	}
	for name, cs := range cases {
		t.Run(name, func(t *testing.T) {
			if got, want := conditionsTerm(cs).Value, mustValue(cs); ast.Compare(got, want) != 0 {
				t.Errorf("conditionsTerm = %v, want %v", got, want)
			}
		})
	}
}
