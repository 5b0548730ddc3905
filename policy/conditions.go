package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
)

// conditionError is a problem with a conditions block, with the Contour reason it maps to.
type conditionError struct {
	Reason  string // PathMatchConditionsNotValid, HeaderMatchConditionsNotValid, ...
	Message string
}

// Condition reasons, as Contour writes them.
const (
	reasonPathConditions   = "PathMatchConditionsNotValid"
	reasonHeaderConditions = "HeaderMatchConditionsNotValid"
	reasonQueryConditions  = "QueryParameterMatchConditionsNotValid"
)

// includeConditionErrors checks an include's own conditions: prefixes only, at most one,
// each starting with "/"; header and query matchers consistent.
func includeConditionErrors(conds []contourv1.MatchCondition) []conditionError {
	var errs []conditionError
	for _, c := range conds {
		if c.Exact != "" {
			errs = append(errs, conditionError{reasonPathConditions, "include: exact conditions are not allowed in includes block"})
			break
		}
		if c.Regex != "" {
			errs = append(errs, conditionError{reasonPathConditions, "include: regex conditions are not allowed in includes block"})
			break
		}
	}
	if msg := pathConditionsMessage(conds); msg != "" {
		errs = append(errs, conditionError{reasonPathConditions, "include: " + msg})
	}
	return append(errs, matcherErrors(conds)...)
}

// routeConditionErrors checks a route's own conditions (not merged with its includers').
func routeConditionErrors(conds []contourv1.MatchCondition) []conditionError {
	var errs []conditionError
	if msg := pathConditionsMessage(conds); msg != "" {
		errs = append(errs, conditionError{reasonPathConditions, "route: " + msg})
	}
	return append(errs, matcherErrors(conds)...)
}

// matcherErrors checks header and query parameter matchers. Applied to a merged include
// chain, it finds conflicts that no single object has on its own.
func matcherErrors(conds []contourv1.MatchCondition) []conditionError {
	var errs []conditionError
	if msg := headerConditionsMessage(conds); msg != "" {
		errs = append(errs, conditionError{reasonHeaderConditions, msg})
	}
	if msg := queryConditionsMessage(conds); msg != "" {
		errs = append(errs, conditionError{reasonQueryConditions, msg})
	}
	return errs
}

func pathConditionsMessage(conds []contourv1.MatchCondition) string {
	paths := 0
	for _, c := range conds {
		switch {
		case c.Prefix != "":
			paths++
			if !strings.HasPrefix(c.Prefix, "/") {
				return fmt.Sprintf("prefix conditions must start with /, %s was supplied", c.Prefix)
			}
		case c.Exact != "":
			paths++
			if !strings.HasPrefix(c.Exact, "/") {
				return fmt.Sprintf("exact conditions must start with /, %s was supplied", c.Exact)
			}
		case c.Regex != "":
			paths++
			if !strings.HasPrefix(c.Regex, "/") {
				return fmt.Sprintf("regex conditions must start with /, %s was supplied", c.Regex)
			}
			if _, err := regexp.Compile(c.Regex); err != nil {
				return fmt.Sprintf("supplied regex: %s invalid. error: %s", c.Regex, err)
			}
		}
	}
	if paths > 1 {
		return "more than one prefix, exact or regex is not allowed in a condition block"
	}
	return ""
}

func headerConditionsMessage(conds []contourv1.MatchCondition) string {
	seen := map[contourv1.HeaderMatchCondition]bool{}
	exact := map[string]bool{}
	for _, c := range conds {
		h := c.Header
		if h == nil {
			continue
		}
		name := strings.ToLower(h.Name)
		switch {
		case h.Present:
			if seen[contourv1.HeaderMatchCondition{Name: name, NotPresent: true}] {
				return "cannot specify contradictory 'present' and 'notpresent' conditions for the same route and header"
			}
		case h.NotPresent:
			if seen[contourv1.HeaderMatchCondition{Name: name, Present: true}] {
				return "cannot specify contradictory 'present' and 'notpresent' conditions for the same route and header"
			}
		case h.Exact != "":
			if exact[name] {
				return "cannot specify duplicate header 'exact match' conditions in the same route"
			}
			exact[name] = true
			if seen[contourv1.HeaderMatchCondition{Name: name, NotExact: h.Exact}] {
				return "cannot specify contradictory 'exact' and 'notexact' conditions for the same route and header"
			}
		case h.NotExact != "":
			if seen[contourv1.HeaderMatchCondition{Name: name, Exact: h.NotExact}] {
				return "cannot specify contradictory 'exact' and 'notexact' conditions for the same route and header"
			}
		case h.Contains != "":
			if seen[contourv1.HeaderMatchCondition{Name: name, NotContains: h.Contains}] {
				return "cannot specify contradictory 'contains' and 'notcontains' conditions for the same route and header"
			}
		case h.NotContains != "":
			if seen[contourv1.HeaderMatchCondition{Name: name, Contains: h.NotContains}] {
				return "cannot specify contradictory 'contains' and 'notcontains' conditions for the same route and header"
			}
		case h.Regex != "":
			if _, err := regexp.Compile(h.Regex); err != nil {
				return "invalid regular expression specified for 'regex' condition"
			}
		}
		k := *h
		k.Name = name
		seen[k] = true
	}
	return ""
}

func queryConditionsMessage(conds []contourv1.MatchCondition) string {
	exact := map[string]bool{}
	for _, c := range conds {
		q := c.QueryParameter
		if q == nil {
			continue
		}
		set := 0
		for _, v := range []string{q.Exact, q.Prefix, q.Suffix, q.Regex, q.Contains} {
			if v != "" {
				set++
			}
		}
		if q.Present {
			set++
		}
		switch {
		case set == 0:
			return "must specify at least one query parameter condition"
		case set > 1:
			return "cannot specify more than one condition in the same match condition branch"
		}
		name := strings.ToLower(q.Name)
		if q.Exact != "" {
			if exact[name] {
				return "cannot specify duplicate query parameter 'exact match' conditions in the same route"
			}
			exact[name] = true
		}
		if q.Regex != "" {
			if _, err := regexp.Compile(q.Regex); err != nil {
				return "invalid regular expression specified for 'regex' condition"
			}
		}
	}
	return ""
}

// PathMatch is a merged path condition: the concatenation of every path condition from the
// root down to a route.
type PathMatch struct {
	Kind  string `json:"kind"` // prefix, exact or regex
	Value string `json:"value"`
}

// mergePath concatenates path conditions root first, collapsing repeated slashes. Any regex
// in the chain makes the result a regex; otherwise the last path condition's kind wins.
func mergePath(chain ...[]contourv1.MatchCondition) PathMatch {
	kind, value := "prefix", ""
	regex := false
	for _, conds := range chain {
		for _, c := range conds {
			switch {
			case c.Prefix != "":
				kind, value = "prefix", value+c.Prefix
			case c.Exact != "":
				kind, value = "exact", value+c.Exact
			case c.Regex != "":
				kind, value, regex = "regex", value+c.Regex, true
			}
		}
	}
	if regex {
		kind = "regex"
	}
	for strings.Contains(value, "//") {
		value = strings.ReplaceAll(value, "//", "/")
	}
	if value == "" {
		value = "/"
	}
	return PathMatch{Kind: kind, Value: value}
}

// includeConditionsSignature identifies an include's match for sibling duplicate detection:
// merged prefix, sorted header matchers, sorted query matchers. Empty conditions and a lone
// "/" prefix return "" because Contour never treats them as duplicates.
func includeConditionsSignature(conds []contourv1.MatchCondition) string {
	path := mergePath(conds)
	var headers, queries []string
	for _, c := range conds {
		if h := c.Header; h != nil {
			hh := *h
			hh.Name = strings.ToLower(hh.Name)
			headers = append(headers, fmt.Sprintf("%+v", hh))
		}
		if q := c.QueryParameter; q != nil {
			qq := *q
			qq.Name = strings.ToLower(qq.Name)
			queries = append(queries, fmt.Sprintf("%+v", qq))
		}
	}
	if path.Value == "/" && len(headers) == 0 && len(queries) == 0 {
		return ""
	}
	slices.Sort(headers)
	slices.Sort(queries)
	return path.Value + "|" + strings.Join(headers, ",") + "|" + strings.Join(queries, ",")
}
