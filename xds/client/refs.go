package client

import (
	"fmt"
	"maps"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// reference is the name of a resource that another resource refers to.
type reference struct {
	typeURL, name string
	// from describes the referring resource, for messages.
	from string
}

// CheckComplete reports whether s is a configuration Envoy could start with and serve
// without "no cluster" or "no route" errors: clusters and listeners have been received (a
// response of each type was accepted, even an empty one), and every name they reference is
// present: the route configurations of HTTP connection managers (RDS), the load assignments of
// EDS clusters (EDS), the secrets of TLS contexts (SDS), and the clusters routes send traffic
// to. The error, an *IncompleteError, lists everything missing.
//
// Only references to resources served by the control plane count: an SDS secret without an
// sds_config (a static secret of Envoy's bootstrap) or with a file-based one is not expected
// on the stream.
//
// For the state of a light client (Options.Light), which does not decode route
// configurations, the clusters of routes are not checked, and the missing names are
// described as subscribed rather than by what references them.
func CheckComplete(s State) error {
	if s.Light {
		return checkHeld(s)
	}
	var missing []string
	for _, t := range wildcardTypes {
		if _, ok := s.Versions[t]; !ok {
			missing = append(missing, fmt.Sprintf("%ss (no response yet)", kind(t)))
		}
	}
	for _, ref := range references(s, true) {
		if _, ok := s.Resources(ref.typeURL)[ref.name]; !ok {
			missing = append(missing, fmt.Sprintf("%s %q (%s)", kind(ref.typeURL), ref.name, ref.from))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	return &IncompleteError{Missing: slices.Compact(missing)}
}

// kind names the resources of a type URL in messages.
func kind(typeURL string) string {
	switch typeURL {
	case resource.ListenerType:
		return "listener"
	case resource.RouteType:
		return "route configuration"
	case resource.ClusterType:
		return "cluster"
	case resource.EndpointType:
		return "cluster load assignment"
	case resource.SecretType:
		return "secret"
	}
	return typeURL
}

// references lists the names that the listeners and clusters of s reference (route
// configurations, load assignments and secrets) and, with routeClusters, the clusters their
// routes send traffic to.
func references(s State, routeClusters bool) []reference {
	r := &referrer{routeClusters: routeClusters}
	for _, name := range slices.Sorted(maps.Keys(s.Listeners)) {
		r.listener(s.Listeners[name].(*listenerv3.Listener))
	}
	for _, name := range slices.Sorted(maps.Keys(s.Clusters)) {
		r.cluster(s.Clusters[name].(*clusterv3.Cluster))
	}
	if routeClusters {
		for _, name := range slices.Sorted(maps.Keys(s.Routes)) {
			r.routeConfig(fmt.Sprintf("route configuration %q", name), s.Routes[name].(*routev3.RouteConfiguration))
		}
	}
	return r.refs
}

// referrer collects references.
type referrer struct {
	routeClusters bool
	// quiet leaves the descriptions of the referring resources (reference.from) empty: a
	// light client does not need them, and builds them for every listener and cluster.
	quiet bool
	refs  []reference
}

// describe is fmt.Sprintf, or "" for a quiet referrer.
func (r *referrer) describe(format string, args ...any) string {
	if r.quiet {
		return ""
	}
	return fmt.Sprintf(format, args...)
}

func (r *referrer) add(typeURL, name, from string) {
	r.refs = append(r.refs, reference{typeURL: typeURL, name: name, from: from})
}

func (r *referrer) listener(l *listenerv3.Listener) {
	what := r.describe("listener %q", l.GetName())
	for i, fc := range l.GetFilterChains() {
		var chain string
		if !r.quiet {
			chain = fmt.Sprintf("%s filter chain %s", what, chainName(i, fc))
		}
		r.filterChain(chain, fc)
	}
	if fc := l.GetDefaultFilterChain(); fc != nil {
		r.filterChain(r.describe("%s default filter chain", what), fc)
	}
	if hcm := unpack(l.GetApiListener().GetApiListener(), &hcmv3.HttpConnectionManager{}); hcm != nil {
		r.connectionManager(r.describe("%s API listener", what), hcm)
	}
}

// chainName identifies a filter chain in messages: its name, or its index.
func chainName(i int, fc *listenerv3.FilterChain) string {
	if fc.GetName() != "" {
		return fmt.Sprintf("%q", fc.GetName())
	}
	return fmt.Sprint(i)
}

func (r *referrer) filterChain(what string, fc *listenerv3.FilterChain) {
	for _, f := range fc.GetFilters() {
		if hcm := unpack(f.GetTypedConfig(), &hcmv3.HttpConnectionManager{}); hcm != nil {
			r.connectionManager(what, hcm)
		}
	}
	if tc := unpack(fc.GetTransportSocket().GetTypedConfig(), &tlsv3.DownstreamTlsContext{}); tc != nil {
		r.tlsContext(what, tc.GetCommonTlsContext())
	}
}

func (r *referrer) connectionManager(what string, hcm *hcmv3.HttpConnectionManager) {
	if rds := hcm.GetRds(); rds != nil && served(rds.GetConfigSource(), true) {
		r.add(resource.RouteType, rds.GetRouteConfigName(), what)
	}
	if rc := hcm.GetRouteConfig(); rc != nil && r.routeClusters {
		r.routeConfig(r.describe("%s inline route configuration", what), rc)
	}
}

func (r *referrer) routeConfig(what string, rc *routev3.RouteConfiguration) {
	for _, vh := range rc.GetVirtualHosts() {
		for i, rt := range vh.GetRoutes() {
			action := rt.GetRoute()
			if action == nil {
				continue
			}
			at := fmt.Sprintf("%s virtual host %q route %d", what, vh.GetName(), i)
			if c := action.GetCluster(); c != "" {
				r.add(resource.ClusterType, c, at)
			}
			for _, wc := range action.GetWeightedClusters().GetClusters() {
				r.add(resource.ClusterType, wc.GetName(), at)
			}
			for _, m := range action.GetRequestMirrorPolicies() {
				r.add(resource.ClusterType, m.GetCluster(), at+" mirror")
			}
		}
	}
}

func (r *referrer) cluster(c *clusterv3.Cluster) {
	what := r.describe("cluster %q", c.GetName())
	if c.GetType() == clusterv3.Cluster_EDS && served(c.GetEdsClusterConfig().GetEdsConfig(), true) {
		name := c.GetEdsClusterConfig().GetServiceName()
		if name == "" {
			name = c.GetName()
		}
		r.add(resource.EndpointType, name, what)
	}
	if tc := unpack(c.GetTransportSocket().GetTypedConfig(), &tlsv3.UpstreamTlsContext{}); tc != nil {
		r.tlsContext(what, tc.GetCommonTlsContext())
	}
	for _, m := range c.GetTransportSocketMatches() {
		if tc := unpack(m.GetTransportSocket().GetTypedConfig(), &tlsv3.UpstreamTlsContext{}); tc != nil {
			r.tlsContext(r.describe("%s transport socket match %q", what, m.GetName()), tc.GetCommonTlsContext())
		}
	}
}

func (r *referrer) tlsContext(what string, common *tlsv3.CommonTlsContext) {
	configs := slices.Clone(common.GetTlsCertificateSdsSecretConfigs())
	configs = append(configs,
		common.GetValidationContextSdsSecretConfig(),
		common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig())
	for _, sc := range configs {
		if sc != nil && served(sc.GetSdsConfig(), false) {
			r.add(resource.SecretType, sc.GetName(), what)
		}
	}
}

// served reports whether the resources of the config source cs come from the control plane
// (ADS, "self", or an API config source) rather than from Envoy's files. A missing config
// source counts as served when unset means the control plane (RDS, EDS), and not when it
// means a static resource of the bootstrap (SDS).
func served(cs *corev3.ConfigSource, unset bool) bool {
	switch cs.GetConfigSourceSpecifier().(type) {
	case nil:
		return unset
	case *corev3.ConfigSource_Path, *corev3.ConfigSource_PathConfigSource:
		return false
	}
	return true
}

// unpack returns the message of a if it is of m's type, unpacked into m, and nil otherwise.
func unpack[M proto.Message](a *anypb.Any, m M) M {
	var zero M
	if a == nil || !a.MessageIs(m) {
		return zero
	}
	if err := a.UnmarshalTo(m); err != nil {
		return zero
	}
	return m
}
