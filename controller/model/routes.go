package model

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
)

// route builds p's idx-th route under the include conditions conds. An error means the
// route is invalid on this chain; the caller drops p's contribution, as Contour does.
// Unresolved backends are not errors: they are dropped one by one, and a route left
// without backends becomes a 503.
func (b *treeBuilder) route(p *contourv1.HTTPProxy, idx int, r contourv1.Route, conds []contourv1.MatchCondition) (*Route, error) {
	if n := countActions(r); n != 1 {
		return nil, errors.New("must set exactly one of route.services or route.requestRedirectPolicy or route.directResponsePolicy")
	}
	if err := checkPathConditions(r.Conditions); err != nil {
		return nil, fmt.Errorf("route: %w", err)
	}
	chain := slices.Concat(conds, r.Conditions)
	if err := checkHeaderConditions(chain); err != nil {
		return nil, err
	}
	if err := checkQueryConditions(chain); err != nil {
		return nil, err
	}
	path, err := mergePath(chain)
	if err != nil {
		return nil, fmt.Errorf("route: %w", err)
	}
	reqHP, err := headersPolicy(r.RequestHeadersPolicy, true)
	if err != nil {
		return nil, fmt.Errorf("%w on request headers", err)
	}
	respHP, err := headersPolicy(r.ResponseHeadersPolicy, false)
	if err != nil {
		return nil, fmt.Errorf("%w on response headers", err)
	}
	out := &Route{
		Owner:           KeyOf(p),
		Origin:          Origin{Field: "routes", Index: idx},
		PathMatch:       path,
		Headers:         b.headerMatches(chain),
		QueryParams:     queryMatches(chain),
		HTTPSRedirect:   b.enforceTLS && !(r.PermitInsecure && !b.opts.DisablePermitInsecure),
		RequestHeaders:  reqHP,
		ResponseHeaders: respHP,
	}
	switch {
	case r.RequestRedirectPolicy != nil:
		out.Redirect, err = redirect(r.RequestRedirectPolicy)
	case r.DirectResponsePolicy != nil:
		out.DirectResponse = &DirectResponse{Status: uint32(max(r.DirectResponsePolicy.StatusCode, 0)), Body: r.DirectResponsePolicy.Body}
	default:
		out.Forward, err = b.forward(p, idx, r, path, reqHP)
		if out.Forward == nil && err == nil {
			out.DirectResponse = &DirectResponse{Status: 503}
		}
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func countActions(r contourv1.Route) int {
	n := 0
	if len(r.Services) > 0 {
		n++
	}
	if r.RequestRedirectPolicy != nil {
		n++
	}
	if r.DirectResponsePolicy != nil {
		n++
	}
	return n
}

// forward builds a route's Forward action. It returns nil, nil when no backend resolves.
func (b *treeBuilder) forward(p *contourv1.HTTPProxy, idx int, r contourv1.Route, path PathMatch, reqHP *HeadersPolicy) (*Forward, error) {
	fwd := &Forward{Websocket: r.EnableWebsockets, Retry: retry(r.RetryPolicy)}
	var err error
	if fwd.Timeouts, err = timeouts(r.TimeoutPolicy); err != nil {
		return nil, fmt.Errorf("route.timeoutPolicy failed to parse: %w", err)
	}
	if fwd.PrefixRewrite, err = prefixRewrite(r.PathRewritePolicy, path); err != nil {
		return nil, err
	}
	hc, err := healthCheck(r.HealthCheckPolicy)
	if err != nil {
		return nil, err
	}
	var lb string
	lb, fwd.HashPolicies = b.loadBalancer(KeyOf(p), idx, r.LoadBalancerPolicy)
	mirrors := 0
	for _, s := range r.Services {
		if s.Mirror {
			mirrors++
		}
		if s.Port < 1 || s.Port > 65535 {
			return nil, fmt.Errorf("service %q: port must be in the range 1-65535", s.Name)
		}
	}
	if mirrors > 1 {
		return nil, errors.New("only one service per route may be nominated as mirror")
	}
	up := upstream{lb: lb, hc: hc}
	if reqHP != nil {
		up.sni = reqHP.HostRewrite
	}
	for j, s := range r.Services {
		c, err := b.cluster(p, idx, j, s, up)
		if err != nil {
			return nil, err
		}
		switch {
		case c == nil: // unresolved: this backend is dropped
		case s.Mirror:
			fwd.Mirror = &Mirror{ClusterName: c.Name, Percent: uint32(min(max(s.Weight, 0), 100))}
			if s.Weight == 0 {
				fwd.Mirror.Percent = 100
			}
		default:
			fwd.Clusters = append(fwd.Clusters, WeightedCluster{ClusterName: c.Name, Weight: uint32(min(max(s.Weight, 0), 1<<32-1))})
		}
	}
	if len(fwd.Clusters) == 0 {
		return nil, nil
	}
	normalizeWeights(fwd.Clusters)
	return fwd, nil
}

// normalizeWeights gives every backend weight 1 when all weights are 0, as Contour's
// translator does, and sorts backends by cluster name then weight.
func normalizeWeights(wcs []WeightedCluster) {
	if !slices.ContainsFunc(wcs, func(wc WeightedCluster) bool { return wc.Weight > 0 }) {
		for i := range wcs {
			wcs[i].Weight = 1
		}
	}
	slices.SortFunc(wcs, func(a, b WeightedCluster) int {
		return cmp.Or(strings.Compare(a.ClusterName, b.ClusterName), cmp.Compare(a.Weight, b.Weight))
	})
}

// upstream holds the route-level settings that shape a route's clusters.
type upstream struct {
	lb  string
	hc  *HealthCheck
	sni string
}

// cluster resolves the j-th service of p's idx-th route into a cluster. It returns nil,
// nil for an unresolved service (reported in Problems), and an error for a setting that
// invalidates the route.
func (b *treeBuilder) cluster(p *contourv1.HTTPProxy, idx, j int, s contourv1.Service, u upstream) (*Cluster, error) {
	svcKey := Key{Namespace: p.Namespace, Name: s.Name}
	b.services.Insert(svcKey)
	svc, port, err := resolveService(b.in, svcKey, s.Port)
	if err != nil {
		b.problemf(KeyOf(p), "spec.routes[%d].services[%d]: unresolved service reference: %v: backend dropped", idx, j, err)
		return nil, nil
	}
	proto, err := serviceProtocol(s, svc, port)
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		Service:      svcKey,
		Port:         port.Port,
		PortName:     port.Name,
		Protocol:     proto,
		EDSName:      edsName(svcKey, port.Name),
		LoadBalancer: u.lb,
		HealthCheck:  u.hc,
		SNI:          u.sni,
	}
	if uv := s.UpstreamValidation; uv != nil && (proto == ProtocolTLS || proto == ProtocolH2) {
		ca := refKey(uv.CACertificate, p.Namespace)
		if !b.requireSecret(ca) {
			return nil, fmt.Errorf("service [%s:%d] TLS upstream validation policy error: CA secret %s not found", s.Name, s.Port, ca)
		}
		c.UpstreamValidation = &UpstreamValidation{CASecret: ca, SubjectName: uv.SubjectName}
	}
	c.Name = clusterName(c)
	if prev, ok := b.clusters[c.Name]; ok {
		return prev, nil
	}
	b.clusters[c.Name] = c
	return c, nil
}

// expandPrefixRewrites makes prefix rewrites slash-consistent as Contour does: a prefix
// route "/foo" (or "/foo/") that rewrites, and is the only route for that prefix with or
// without the trailing "/", becomes two routes, "/foo" rewriting to the replacement
// without trailing "/" and "/foo/" rewriting to it with one.
func expandPrefixRewrites(routes []*Route) []*Route {
	byPrefix := map[string][]*Route{}
	for _, r := range routes {
		if r.PathMatch.Kind == PathPrefix {
			p := r.PathMatch.Value
			if p != "/" {
				p = strings.TrimRight(p, "/")
			}
			byPrefix[p] = append(byPrefix[p], r)
		}
	}
	for prefix, group := range byPrefix {
		r := group[0]
		if len(group) != 1 || prefix == "/" || r.Forward == nil || r.Forward.PrefixRewrite == "" {
			continue
		}
		rewrite := strings.TrimRight(r.Forward.PrefixRewrite, "/")
		twin, twinFwd := *r, *r.Forward
		twin.Forward = &twinFwd
		twin.PathMatch = PathMatch{Kind: PathPrefix, Value: prefix + "/"}
		twinFwd.PrefixRewrite = rewrite + "/"
		r.PathMatch = PathMatch{Kind: PathPrefix, Value: prefix}
		r.Forward.PrefixRewrite = cmp.Or(rewrite, "/")
		routes = append(routes, &twin)
	}
	return routes
}
