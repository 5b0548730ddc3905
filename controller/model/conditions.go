package model

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
)

// checkPathConditions checks one conditions slice (an include's or a route's own, never a
// merged chain): paths start with "/", regexes compile, at most one path condition.
func checkPathConditions(conds []contourv1.MatchCondition) error {
	n := 0
	for _, c := range conds {
		for _, p := range [...]struct{ kind, v string }{{"prefix", c.Prefix}, {"exact", c.Exact}, {"regex", c.Regex}} {
			if p.v == "" {
				continue
			}
			n++
			if p.v[0] != '/' {
				return fmt.Errorf("%s conditions must start with /, %s was supplied", p.kind, p.v)
			}
		}
		if c.Regex != "" {
			if _, err := regexp.Compile(c.Regex); err != nil {
				return fmt.Errorf("supplied regex: %s invalid. error: %w", c.Regex, err)
			}
		}
	}
	if n > 1 {
		return errors.New("more than one prefix, exact or regex is not allowed in a condition block")
	}
	return nil
}

// checkIncludeConditions checks an include's own conditions: no exact or regex path, then
// the path rules, then its header and query conditions.
func checkIncludeConditions(conds []contourv1.MatchCondition) error {
	for _, c := range conds {
		if c.Exact != "" {
			return errors.New("exact conditions are not allowed in includes block")
		}
		if c.Regex != "" {
			return errors.New("regex conditions are not allowed in includes block")
		}
	}
	if err := checkPathConditions(conds); err != nil {
		return err
	}
	if err := checkHeaderConditions(conds); err != nil {
		return err
	}
	return checkQueryConditions(conds)
}

// checkHeaderConditions checks the header conditions of a merged chain for contradictions
// (§2.2): two exact matches on one header, present with notpresent, exact X with notexact
// X, contains X with notcontains X, and invalid regexes. Names compare case-insensitively.
func checkHeaderConditions(conds []contourv1.MatchCondition) error {
	type seen struct{ name, kind, value string }
	found := map[seen]bool{}
	for _, c := range conds {
		h := c.Header
		if h == nil {
			continue
		}
		name := strings.ToLower(h.Name)
		has := func(kind, value string) bool { return found[seen{name, kind, value}] }
		switch {
		case h.Present && has("notpresent", ""), h.NotPresent && has("present", ""):
			return errors.New("cannot specify contradictory 'present' and 'notpresent' conditions for the same route and header")
		case h.Exact != "" && has("exact-any", ""):
			return errors.New("cannot specify duplicate header 'exact match' conditions in the same route")
		case h.Exact != "" && has("notexact", h.Exact), h.NotExact != "" && has("exact", h.NotExact):
			return errors.New("cannot specify contradictory 'exact' and 'notexact' conditions for the same route and header")
		case h.Contains != "" && has("notcontains", h.Contains), h.NotContains != "" && has("contains", h.NotContains):
			return errors.New("cannot specify contradictory 'contains' and 'notcontains' conditions for the same route and header")
		case h.Regex != "" && !validRegex(h.Regex):
			return errors.New("invalid regular expression specified for 'regex' condition")
		}
		for kind, v := range map[string]string{"exact": h.Exact, "notexact": h.NotExact, "contains": h.Contains, "notcontains": h.NotContains} {
			if v != "" {
				found[seen{name, kind, v}] = true
			}
		}
		if h.Exact != "" {
			found[seen{name, "exact-any", ""}] = true
		}
		found[seen{name, "present", ""}] = found[seen{name, "present", ""}] || h.Present
		found[seen{name, "notpresent", ""}] = found[seen{name, "notpresent", ""}] || h.NotPresent
	}
	return nil
}

// checkQueryConditions checks the query conditions of a merged chain: exactly one matcher
// per condition, no two exact matches on one (lower-cased) name, regexes compile.
func checkQueryConditions(conds []contourv1.MatchCondition) error {
	exact := map[string]bool{}
	for _, c := range conds {
		q := c.QueryParameter
		if q == nil {
			continue
		}
		n := 0
		for _, v := range []string{q.Exact, q.Prefix, q.Suffix, q.Regex, q.Contains} {
			if v != "" {
				n++
			}
		}
		if q.Present {
			n++
		}
		switch {
		case n == 0:
			return errors.New("must specify at least one query parameter condition")
		case n > 1:
			return errors.New("cannot specify more than one condition in the same match condition branch")
		case q.Regex != "" && !validRegex(q.Regex):
			return errors.New("invalid regular expression specified for 'regex' condition")
		}
		if q.Exact != "" {
			name := strings.ToLower(q.Name)
			if exact[name] {
				return errors.New("cannot specify duplicate query parameter 'exact match' conditions in the same route")
			}
			exact[name] = true
		}
	}
	return nil
}

func validRegex(re string) bool {
	_, err := regexp.Compile(re)
	return err == nil
}

// mergePath merges the path conditions of an include chain, root to leaf (§2.2):
// values are concatenated and runs of "/" collapsed; no path at all is prefix "/"; a regex
// anywhere makes the result a regex, otherwise the leaf's path condition decides between
// exact and prefix.
//
// With a regex in the chain, the includes' prefixes are regex-quoted (trailing "/"
// dropped) and the regex wrapped in a non-capturing group, as Contour v1.33 does, so that
// a child's "|" cannot escape the prefix delegated to it.
//
// Deviation: Contour takes the kind from the chain's last condition of any type, so an
// exact path followed by a header condition becomes a prefix; the model takes it from the
// last path condition.
func mergePath(conds []contourv1.MatchCondition) (PathMatch, error) {
	isRegex := slices.ContainsFunc(conds, func(c contourv1.MatchCondition) bool { return c.Regex != "" })
	var b strings.Builder
	kind := PathPrefix
	for _, c := range conds {
		switch {
		case c.Prefix != "":
			kind = PathPrefix
			if isRegex {
				b.WriteString(regexp.QuoteMeta(strings.TrimRight(c.Prefix, "/")))
			} else {
				b.WriteString(c.Prefix)
			}
		case c.Exact != "":
			kind = PathExact
			b.WriteString(c.Exact)
		case c.Regex != "":
			kind = PathRegex
			if b.Len() > 0 {
				b.WriteString("(?:" + c.Regex + ")")
			} else {
				b.WriteString(c.Regex)
			}
		}
	}
	merged := collapseSlashes(b.String())
	if merged == "" {
		return PathMatch{Kind: PathPrefix, Value: "/"}, nil
	}
	if isRegex {
		if !validRegex(merged) {
			return PathMatch{}, errors.New("regex invalid after merging with include prefix")
		}
		kind = PathRegex
	}
	return PathMatch{Kind: kind, Value: merged}, nil
}

// collapseSlashes replaces every run of "/" with one.
func collapseSlashes(s string) string {
	if !strings.Contains(s, "//") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '/' && i > 0 && s[i-1] == '/' {
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// headerMatches converts the header conditions of a chain, sorted by compareHeaders.
func headerMatches(conds []contourv1.MatchCondition) []HeaderMatch {
	var out []HeaderMatch
	for _, c := range conds {
		h := c.Header
		if h == nil {
			continue
		}
		m := HeaderMatch{Name: h.Name, IgnoreCase: h.IgnoreCase}
		switch {
		case h.Present:
			m.Kind, m.IgnoreCase = HeaderPresent, false
		case h.NotPresent:
			m.Kind, m.Invert, m.IgnoreCase = HeaderPresent, true, false
		case h.Contains != "":
			m.Kind, m.Value = HeaderContains, h.Contains
		case h.NotContains != "":
			m.Kind, m.Value, m.Invert, m.TreatMissingAsEmpty = HeaderContains, h.NotContains, true, h.TreatMissingAsEmpty
		case h.Exact != "":
			m.Kind, m.Value = HeaderExact, h.Exact
		case h.NotExact != "":
			m.Kind, m.Value, m.Invert, m.TreatMissingAsEmpty = HeaderExact, h.NotExact, true, h.TreatMissingAsEmpty
		case h.Regex != "":
			m.Kind, m.Value, m.IgnoreCase = HeaderRegex, h.Regex, false
		default:
			continue // a name without a matcher matches nothing in Contour either
		}
		out = append(out, m)
	}
	slices.SortStableFunc(out, compareHeaders)
	return out
}

var headerKindRank = map[HeaderMatchKind]int{HeaderExact: 0, HeaderRegex: 1, HeaderContains: 2, HeaderPresent: 3}

// compareHeaders orders header matches as Contour's sorter does: by name, then kind (exact,
// regex, contains, present: most specific first), then value, non-inverted first.
func compareHeaders(a, b HeaderMatch) int {
	return cmp.Or(
		strings.Compare(a.Name, b.Name),
		cmp.Compare(headerKindRank[a.Kind], headerKindRank[b.Kind]),
		strings.Compare(a.Value, b.Value),
		compareBool(a.Invert, b.Invert),
		compareBool(a.IgnoreCase, b.IgnoreCase),
		compareBool(a.TreatMissingAsEmpty, b.TreatMissingAsEmpty),
	)
}

// queryMatches converts the query conditions of a chain, sorted by compareQueries.
func queryMatches(conds []contourv1.MatchCondition) []QueryMatch {
	var out []QueryMatch
	for _, c := range conds {
		q := c.QueryParameter
		if q == nil {
			continue
		}
		m := QueryMatch{Name: q.Name, IgnoreCase: q.IgnoreCase}
		switch {
		case q.Exact != "":
			m.Kind, m.Value = QueryExact, q.Exact
		case q.Prefix != "":
			m.Kind, m.Value = QueryPrefix, q.Prefix
		case q.Suffix != "":
			m.Kind, m.Value = QuerySuffix, q.Suffix
		case q.Regex != "":
			m.Kind, m.Value, m.IgnoreCase = QueryRegex, q.Regex, false
		case q.Contains != "":
			m.Kind, m.Value = QueryContains, q.Contains
		case q.Present:
			m.Kind, m.IgnoreCase = QueryPresent, false
		default:
			continue
		}
		out = append(out, m)
	}
	slices.SortStableFunc(out, compareQueries)
	return out
}

var queryKindRank = map[QueryMatchKind]int{QueryExact: 0, QueryRegex: 1, QueryPrefix: 2, QuerySuffix: 3, QueryContains: 4, QueryPresent: 5}

// compareQueries orders query matches by name, then kind (exact, regex, prefix, suffix,
// contains, present), then value, case-sensitive first.
func compareQueries(a, b QueryMatch) int {
	return cmp.Or(
		strings.Compare(a.Name, b.Name),
		cmp.Compare(queryKindRank[a.Kind], queryKindRank[b.Kind]),
		strings.Compare(a.Value, b.Value),
		compareBool(a.IgnoreCase, b.IgnoreCase),
	)
}

// compareBool orders false before true.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	default:
		return 1
	}
}

// includeConditionsKey is the identity of an include's conditions for duplicate sibling
// detection (§2.2): merged prefix plus sorted header and query matches. ok is false for
// conditions that are never duplicates: none at all, or a lone prefix "/".
func includeConditionsKey(conds []contourv1.MatchCondition) (key string, ok bool) {
	if len(conds) == 0 || (len(conds) == 1 && conds[0].Prefix == "/") {
		return "", false
	}
	path, _ := mergePath(conds) // include conditions are prefixes only: no error
	return fmt.Sprintf("%s|%v|%v", path.Value, headerMatches(conds), queryMatches(conds)), true
}
