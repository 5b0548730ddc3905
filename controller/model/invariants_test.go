package model

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// checkInvariants checks what every Model promises: sorted slices, exactly one action per
// route, every referenced cluster, load assignment and secret present, nothing unreferenced,
// and valid regexes.
func checkInvariants(t testing.TB, m *Model) {
	t.Helper()
	for _, err := range invariantErrors(m) {
		t.Error(err)
	}
}

func invariantErrors(m *Model) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !slices.IsSortedFunc(m.VirtualHosts, func(a, b *VirtualHost) int { return strings.Compare(a.FQDN, b.FQDN) }) {
		fail("vhosts not sorted by fqdn")
	}
	if !slices.IsSortedFunc(m.Clusters, func(a, b *Cluster) int { return strings.Compare(a.Name, b.Name) }) {
		fail("clusters not sorted by name")
	}
	if !slices.IsSortedFunc(m.Endpoints, func(a, b *ClusterLoadAssignment) int { return strings.Compare(a.Name, b.Name) }) {
		fail("endpoints not sorted by name")
	}
	if !slices.IsSortedFunc(m.Secrets, func(a, b *Secret) int { return a.Name.Compare(b.Name) }) {
		fail("secrets not sorted by name")
	}
	clusters := map[string]*Cluster{}
	for _, c := range m.Clusters {
		clusters[c.Name] = c
	}
	usedClusters := map[string]bool{}
	usedSecrets := map[Key]bool{}
	for _, vh := range m.VirtualHosts {
		if len(vh.Routes) == 0 {
			fail("vhost %s has no route", vh.FQDN)
		}
		if !slices.IsSortedFunc(vh.Routes, compareRoutes) {
			fail("vhost %s: routes not sorted", vh.FQDN)
		}
		if t := vh.TLS; t != nil {
			usedSecrets[t.SecretRef], usedSecrets[t.FallbackCertificate] = true, true
			if cv := t.ClientValidation; cv != nil {
				usedSecrets[cv.CASecret], usedSecrets[cv.CRLSecret] = true, true
			}
		}
		for _, r := range vh.Routes {
			errs = append(errs, routeErrors(vh.FQDN, r, clusters, usedClusters)...)
		}
	}
	endpoints := map[string]bool{}
	for _, la := range m.Endpoints {
		endpoints[la.Name] = true
	}
	usedEDS := map[string]bool{}
	for _, c := range m.Clusters {
		if !usedClusters[c.Name] {
			fail("cluster %s is not used by any route", c.Name)
		}
		if !endpoints[c.EDSName] {
			fail("cluster %s: no load assignment %s", c.Name, c.EDSName)
		}
		usedEDS[c.EDSName] = true
		if uv := c.UpstreamValidation; uv != nil {
			usedSecrets[uv.CASecret] = true
		}
	}
	for _, la := range m.Endpoints {
		if !usedEDS[la.Name] {
			fail("load assignment %s is not used by any cluster", la.Name)
		}
	}
	for _, s := range m.Secrets {
		if !usedSecrets[s.Name] {
			fail("secret %s is not referenced", s.Name)
		}
	}
	return errs
}

func routeErrors(fqdn string, r *Route, clusters map[string]*Cluster, used map[string]bool) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("vhost %s route %s %s: %s", fqdn, r.Owner, r.Origin, fmt.Sprintf(format, args...)))
	}
	actions := 0
	for _, set := range []bool{r.Forward != nil, r.Redirect != nil, r.DirectResponse != nil} {
		if set {
			actions++
		}
	}
	if actions != 1 {
		fail("%d actions", actions)
	}
	if r.PathMatch.Kind == PathRegex {
		if _, err := regexp.Compile(r.PathMatch.Value); err != nil {
			fail("path regex: %v", err)
		}
	}
	if r.PathMatch.Value == "" || r.PathMatch.Value[0] != '/' && r.PathMatch.Kind != PathRegex {
		fail("path %q does not start with /", r.PathMatch.Value)
	}
	if f := r.Forward; f != nil {
		if len(f.Clusters) == 0 {
			fail("forward without clusters")
		}
		names := []string{}
		for _, wc := range f.Clusters {
			names = append(names, wc.ClusterName)
		}
		if f.Mirror != nil {
			names = append(names, f.Mirror.ClusterName)
		}
		for _, n := range names {
			if clusters[n] == nil {
				fail("cluster %s missing", n)
			}
			used[n] = true
		}
	}
	return errs
}
