package translate

import (
	"fmt"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/projectwarden/warden/controller/model"
)

// Contour's resource names (reference/contour-semantics.md §4.1).
const (
	// HTTPListenerName is the plain HTTP listener and HTTPRouteConfigName its route
	// configuration, which holds every virtual host.
	HTTPListenerName     = "ingress_http"
	HTTPRouteConfigName  = "ingress_http"
	HTTPSListenerName    = "ingress_https"
	FallbackRouteConfig  = "ingress_fallbackcert"
	FallbackFilterChain  = "fallback-certificate"
	httpsRouteNamePrefix = "https/"
)

// HTTPSRouteConfigName is the route configuration of a TLS virtual host's filter chain:
// "https/<fqdn>".
func HTTPSRouteConfigName(fqdn string) string { return httpsRouteNamePrefix + fqdn }

// unavailable is the direct response of a route whose every cluster is left out (its
// upstream CA has no data), like the model's route without a resolved backend.
var unavailable = &model.DirectResponse{Status: 503}

// virtualHost translates vh for the HTTP listener (secure false: HTTPSRedirect routes
// redirect) or for its HTTPS filter chain (secure true: they act normally). It depends on
// vh and on the clusters left out (translator.dropped); it is validated with its route
// configuration (see generation.sealRoutes).
func (t *translator) virtualHost(vh *model.VirtualHost, secure bool) (*routev3.VirtualHost, error) {
	routes := make([]*routev3.Route, 0, len(vh.Routes))
	for _, r := range vh.Routes {
		er, err := t.route(r, secure)
		if err != nil {
			return nil, fmt.Errorf("virtual host %s: route %s %s: %w", vh.FQDN, r.Owner, r.Origin, err)
		}
		routes = append(routes, er)
	}
	// Contour names the vhost after its fqdn and matches exactly that domain; a
	// wildcard fqdn ("*.example.com") is an Envoy wildcard domain, and the model's
	// ":authority" header match keeps it to one DNS label. The HTTP connection manager
	// strips any port from the Host header, so "host:port" needs no extra domain.
	return &routev3.VirtualHost{Name: vh.FQDN, Domains: []string{vh.FQDN}, Routes: routes}, nil
}

// route translates one model route. Envoy takes the first match, so the model's order is
// kept.
func (t *translator) route(r *model.Route, secure bool) (*routev3.Route, error) {
	match, err := routeMatch(r)
	if err != nil {
		return nil, err
	}
	out := &routev3.Route{Match: match}
	switch {
	case r.HTTPSRedirect && !secure:
		// Contour's upgrade route: a 301 to the same URL over https, with no other
		// policy (§2.6).
		out.Action = &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{
			SchemeRewriteSpecifier: &routev3.RedirectAction_HttpsRedirect{HttpsRedirect: true},
		}}
	case r.DirectResponse != nil:
		out.Action = directResponse(r.DirectResponse)
	case r.Redirect != nil:
		out.Action = redirect(r.Redirect)
	case r.Forward != nil:
		action := t.forward(r.Forward, r.RequestHeaders)
		if action == nil {
			out.Action = directResponse(unavailable)
			break
		}
		out.Action = action
		// As in Contour, header policies apply to proxied routes only.
		if p := r.RequestHeaders; p != nil {
			out.RequestHeadersToAdd = headersToAdd(p.Set)
			out.RequestHeadersToRemove = slices.Clone(p.Remove)
		}
		if p := r.ResponseHeaders; p != nil {
			out.ResponseHeadersToAdd = headersToAdd(p.Set)
			out.ResponseHeadersToRemove = slices.Clone(p.Remove)
		}
	default:
		return nil, fmt.Errorf("%w: the route has no action", ErrInvalid)
	}
	return out, nil
}

func routeMatch(r *model.Route) (*routev3.RouteMatch, error) {
	m := &routev3.RouteMatch{}
	switch p := r.PathMatch; p.Kind {
	case model.PathPrefix:
		m.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: p.Value}
	case model.PathExact:
		m.PathSpecifier = &routev3.RouteMatch_Path{Path: p.Value}
	case model.PathRegex:
		m.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: p.Value}}
	default:
		return nil, fmt.Errorf("%w: unknown path match kind %q", ErrInvalid, p.Kind)
	}
	for _, h := range r.Headers {
		hm, err := headerMatcher(h)
		if err != nil {
			return nil, err
		}
		m.Headers = append(m.Headers, hm)
	}
	for _, q := range r.QueryParams {
		qm, err := queryMatcher(q)
		if err != nil {
			return nil, err
		}
		m.QueryParameters = append(m.QueryParameters, qm)
	}
	return m, nil
}

func headerMatcher(h model.HeaderMatch) (*routev3.HeaderMatcher, error) {
	hm := &routev3.HeaderMatcher{
		Name:                      h.Name,
		InvertMatch:               h.Invert,
		TreatMissingHeaderAsEmpty: h.TreatMissingAsEmpty,
	}
	switch h.Kind {
	case model.HeaderPresent:
		hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
	case model.HeaderExact:
		hm.HeaderMatchSpecifier = stringMatch(&matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_Exact{Exact: h.Value}, IgnoreCase: h.IgnoreCase,
		})
	case model.HeaderContains:
		hm.HeaderMatchSpecifier = stringMatch(&matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_Contains{Contains: h.Value}, IgnoreCase: h.IgnoreCase,
		})
	case model.HeaderRegex:
		hm.HeaderMatchSpecifier = stringMatch(&matcherv3.StringMatcher{MatchPattern: regex(h.Value)})
	default:
		return nil, fmt.Errorf("%w: header %q: unknown match kind %q", ErrInvalid, h.Name, h.Kind)
	}
	return hm, nil
}

func stringMatch(m *matcherv3.StringMatcher) *routev3.HeaderMatcher_StringMatch {
	return &routev3.HeaderMatcher_StringMatch{StringMatch: m}
}

// regex is a full-match RE2 pattern. Envoy ignores ignore_case for regexes (and warns),
// so it is never set with one.
func regex(v string) *matcherv3.StringMatcher_SafeRegex {
	return &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: v}}
}

func queryMatcher(q model.QueryMatch) (*routev3.QueryParameterMatcher, error) {
	qm := &routev3.QueryParameterMatcher{Name: q.Name}
	sm := &matcherv3.StringMatcher{IgnoreCase: q.IgnoreCase}
	switch q.Kind {
	case model.QueryPresent:
		qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}
		return qm, nil
	case model.QueryExact:
		sm.MatchPattern = &matcherv3.StringMatcher_Exact{Exact: q.Value}
	case model.QueryPrefix:
		sm.MatchPattern = &matcherv3.StringMatcher_Prefix{Prefix: q.Value}
	case model.QuerySuffix:
		sm.MatchPattern = &matcherv3.StringMatcher_Suffix{Suffix: q.Value}
	case model.QueryContains:
		sm.MatchPattern = &matcherv3.StringMatcher_Contains{Contains: q.Value}
	case model.QueryRegex:
		sm.MatchPattern, sm.IgnoreCase = regex(q.Value), false
	default:
		return nil, fmt.Errorf("%w: query parameter %q: unknown match kind %q", ErrInvalid, q.Name, q.Kind)
	}
	qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_StringMatch{StringMatch: sm}
	return qm, nil
}

func directResponse(d *model.DirectResponse) *routev3.Route_DirectResponse {
	a := &routev3.DirectResponseAction{Status: d.Status}
	if d.Body != "" {
		a.Body = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: d.Body}}
	}
	return &routev3.Route_DirectResponse{DirectResponse: a}
}

var redirectCodes = map[int]routev3.RedirectAction_RedirectResponseCode{
	301: routev3.RedirectAction_MOVED_PERMANENTLY,
	302: routev3.RedirectAction_FOUND,
	303: routev3.RedirectAction_SEE_OTHER,
	307: routev3.RedirectAction_TEMPORARY_REDIRECT,
	308: routev3.RedirectAction_PERMANENT_REDIRECT,
}

// redirect is a requestRedirectPolicy. Status 0 (and anything unknown) is Envoy's
// default, 301.
func redirect(r *model.Redirect) *routev3.Route_Redirect {
	a := &routev3.RedirectAction{
		HostRedirect: r.Hostname,
		PortRedirect: r.Port,
		ResponseCode: redirectCodes[r.StatusCode],
	}
	if r.Scheme != "" {
		a.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: r.Scheme}
	}
	switch {
	case r.Path != "":
		a.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: r.Path}
	case r.Prefix != "":
		a.PathRewriteSpecifier = &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: r.Prefix}
	}
	return &routev3.Route_Redirect{Redirect: a}
}

// forward builds the action of a proxied route, or returns nil when every cluster of the
// route is left out (see translator.dropped).
func (t *translator) forward(f *model.Forward, req *model.HeadersPolicy) *routev3.Route_Route {
	clusters := make([]model.WeightedCluster, 0, len(f.Clusters))
	var total uint64
	for _, c := range f.Clusters {
		if !t.dropped[c.ClusterName] {
			clusters = append(clusters, c)
			total += uint64(c.Weight)
		}
	}
	if len(clusters) == 0 {
		return nil
	}
	a := &routev3.RouteAction{}
	if len(clusters) == 1 {
		a.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: clusters[0].ClusterName}
	} else {
		// Envoy sums the weights (total_weight is deprecated) and rejects a zero sum,
		// which leaving clusters out can produce: then, as in the model, each gets 1.
		wc := &routev3.WeightedCluster{Clusters: make([]*routev3.WeightedCluster_ClusterWeight, len(clusters))}
		for i, c := range clusters {
			w := c.Weight
			if total == 0 {
				w = 1
			}
			wc.Clusters[i] = &routev3.WeightedCluster_ClusterWeight{Name: c.ClusterName, Weight: wrapperspb.UInt32(w)}
		}
		a.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
	}
	if m := f.Mirror; m != nil && !t.dropped[m.ClusterName] {
		p := &routev3.RouteAction_RequestMirrorPolicy{Cluster: m.ClusterName}
		if m.Percent < 100 {
			p.RuntimeFraction = &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{
				Numerator: m.Percent, Denominator: typev3.FractionalPercent_HUNDRED,
			}}
		}
		a.RequestMirrorPolicies = []*routev3.RouteAction_RequestMirrorPolicy{p}
	}
	if to := f.Timeouts; to != nil {
		if to.Response != nil {
			a.Timeout = durationpb.New(to.Response.Duration)
		}
		if to.Idle != nil {
			a.IdleTimeout = durationpb.New(to.Idle.Duration)
		}
	}
	a.RetryPolicy = retryPolicy(f.Retry)
	a.PrefixRewrite = f.PrefixRewrite
	if f.Websocket {
		a.UpgradeConfigs = []*routev3.RouteAction_UpgradeConfig{{UpgradeType: "websocket"}}
	}
	a.HashPolicy = hashPolicies(f.HashPolicies)
	if req != nil {
		switch {
		case req.HostRewrite != "":
			a.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: req.HostRewrite}
		case req.HostRewriteHeader != "":
			a.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteHeader{HostRewriteHeader: req.HostRewriteHeader}
		}
	}
	return &routev3.Route_Route{Route: a}
}

// retryPolicy sets num_retries even when it is 0: Envoy reads an unset num_retries as 1,
// and the model's 0 means no retry (HTTPProxy count -1).
func retryPolicy(r *model.Retry) *routev3.RetryPolicy {
	if r == nil {
		return nil
	}
	p := &routev3.RetryPolicy{
		RetryOn:              strings.Join(r.RetryOn, ","),
		NumRetries:           wrapperspb.UInt32(r.Count),
		RetriableStatusCodes: slices.Clone(r.RetriableStatusCodes),
	}
	if r.PerTryTimeout != nil {
		p.PerTryTimeout = durationpb.New(r.PerTryTimeout.Duration)
	}
	return p
}

// hashPolicies are the Cookie and RequestHash strategies' inputs. The cookie has a zero
// TTL, so Envoy generates a session cookie, as in Contour.
func hashPolicies(hps []model.HashPolicy) []*routev3.RouteAction_HashPolicy {
	if len(hps) == 0 {
		return nil
	}
	out := make([]*routev3.RouteAction_HashPolicy, 0, len(hps))
	for _, hp := range hps {
		p := &routev3.RouteAction_HashPolicy{Terminal: hp.Terminal}
		switch {
		case hp.SourceIP:
			p.PolicySpecifier = &routev3.RouteAction_HashPolicy_ConnectionProperties_{
				ConnectionProperties: &routev3.RouteAction_HashPolicy_ConnectionProperties{SourceIp: true},
			}
		case hp.Header != "":
			p.PolicySpecifier = &routev3.RouteAction_HashPolicy_Header_{
				Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: hp.Header},
			}
		case hp.QueryParameter != "":
			p.PolicySpecifier = &routev3.RouteAction_HashPolicy_QueryParameter_{
				QueryParameter: &routev3.RouteAction_HashPolicy_QueryParameter{Name: hp.QueryParameter},
			}
		case hp.Cookie != nil:
			p.PolicySpecifier = &routev3.RouteAction_HashPolicy_Cookie_{
				Cookie: &routev3.RouteAction_HashPolicy_Cookie{Name: hp.Cookie.Name, Path: hp.Cookie.Path, Ttl: &durationpb.Duration{}},
			}
		default:
			continue // the model sets exactly one attribute; nothing to hash otherwise
		}
		out = append(out, p)
	}
	return out
}

// headersToAdd sets headers (replacing any value the request or response has), sorted by
// name, with values escaped for Envoy (escapeHeaderValue).
func headersToAdd(set map[string]string) []*corev3.HeaderValueOption {
	if len(set) == 0 {
		return nil
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]*corev3.HeaderValueOption, len(names))
	for i, n := range names {
		out[i] = &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: n, Value: escapeHeaderValue(set[n])},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		}
	}
	return out
}
