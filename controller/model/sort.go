package model

import (
	"cmp"
	"slices"
	"strings"
)

var pathKindRank = map[PathMatchKind]int{PathExact: 0, PathRegex: 1, PathPrefix: 2}

// sortRoutes orders a vhost's routes most- to least-specific, as Contour's sortRoutes
// does, since Envoy takes the first route that matches:
//
//  1. exact paths, then regexes, then prefixes;
//  2. longer regexes and prefixes first; for equal lengths (and for exact paths) the
//     greater string first;
//  3. a route matching the ":method" header first;
//  4. more header matches first, then more query matches first;
//  5. header matches, then query matches, compared one by one;
//  6. finally by owner and origin, so that equal matches (the first wins in Envoy) are
//     ordered deterministically.
func sortRoutes(routes []*Route) []*Route {
	slices.SortStableFunc(routes, compareRoutes)
	return routes
}

func compareRoutes(a, b *Route) int {
	pa, pb := a.PathMatch, b.PathMatch
	if c := cmp.Compare(pathKindRank[pa.Kind], pathKindRank[pb.Kind]); c != 0 {
		return c
	}
	if pa.Kind != PathExact {
		if c := cmp.Compare(len(pb.Value), len(pa.Value)); c != 0 {
			return c
		}
	}
	if c := strings.Compare(pb.Value, pa.Value); c != 0 {
		return c
	}
	ma, mb := hasMethodMatch(a.Headers), hasMethodMatch(b.Headers)
	if c := compareBool(mb, ma); c != 0 {
		return c
	}
	return cmp.Or(
		cmp.Compare(len(b.Headers), len(a.Headers)),
		cmp.Compare(len(b.QueryParams), len(a.QueryParams)),
		slices.CompareFunc(a.Headers, b.Headers, compareHeaders),
		slices.CompareFunc(a.QueryParams, b.QueryParams, compareQueries),
		a.Owner.Compare(b.Owner),
		a.Origin.Compare(b.Origin),
	)
}

func hasMethodMatch(h []HeaderMatch) bool {
	return slices.ContainsFunc(h, func(m HeaderMatch) bool { return m.Name == ":method" })
}
