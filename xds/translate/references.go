package translate

import (
	"errors"
	"fmt"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// CheckReferences reports every name a resource of r refers to that r does not serve, as
// Envoy would see it: the RDS route configurations of the listeners' HTTP connection
// managers, the clusters of the routes (weighted and mirror clusters included), the EDS
// service names of EDS clusters, and the SDS secrets of downstream and upstream TLS
// contexts. Two resources of one type with the same name are reported too. Every error
// wraps ErrReference.
//
// Envoy accepts a dangling reference but then waits: a listener whose route configuration
// or secret never comes stays warming, a route to a missing cluster answers 503. A test, or
// an xDS client that assembles what it received into Messages, uses this to prove that
// never happens.
func CheckReferences(r *Messages) error {
	c := refChecker{served: map[resource.Type]map[string]bool{}}
	for typ, list := range r.ByType() {
		c.served[typ] = c.names(typ, list)
	}
	for _, l := range r.Listeners {
		chains := l.GetFilterChains()
		if d := l.GetDefaultFilterChain(); d != nil {
			chains = append(chains[:len(chains):len(chains)], d)
		}
		for i, fc := range chains {
			c.filterChain(fmt.Sprintf("listener %s: filter chain %s", l.GetName(), chainName(fc, i)), fc)
		}
	}
	for _, rc := range r.Routes {
		c.routeConfig("route configuration "+rc.GetName(), rc)
	}
	for _, cl := range r.Clusters {
		c.cluster(cl)
	}
	return errors.Join(c.errs...)
}

type refChecker struct {
	served map[resource.Type]map[string]bool
	errs   []error
}

func (c *refChecker) names(typ resource.Type, list []types.Resource) map[string]bool {
	out := make(map[string]bool, len(list))
	for _, res := range list {
		n := cachev3.GetResourceName(res)
		if out[n] {
			c.errs = append(c.errs, fmt.Errorf("%w: two %ss are named %q", ErrReference, kindOf(typ), n))
		}
		out[n] = true
	}
	return out
}

func (c *refChecker) need(what string, typ resource.Type, name string) {
	if !c.served[typ][name] {
		c.errs = append(c.errs, fmt.Errorf("%w: %s: %s %q is not served", ErrReference, what, kindOf(typ), name))
	}
}

// chainName identifies a filter chain in errors: its name, else its server names, else its
// index.
func chainName(fc *listenerv3.FilterChain, i int) string {
	switch {
	case fc.GetName() != "":
		return fmt.Sprintf("%q", fc.GetName())
	case len(fc.GetFilterChainMatch().GetServerNames()) > 0:
		return fmt.Sprintf("%q", strings.Join(fc.GetFilterChainMatch().GetServerNames(), ","))
	default:
		return fmt.Sprint(i)
	}
}

func (c *refChecker) filterChain(what string, fc *listenerv3.FilterChain) {
	for _, f := range fc.GetFilters() {
		hcm, ok := unpack(f.GetTypedConfig(), &hcmv3.HttpConnectionManager{})
		if !ok {
			continue
		}
		if rds := hcm.GetRds(); rds != nil {
			c.need(what, resource.RouteType, rds.GetRouteConfigName())
		}
		if rc := hcm.GetRouteConfig(); rc != nil {
			c.routeConfig(what+": inline route configuration", rc)
		}
	}
	if ctx, ok := unpack(fc.GetTransportSocket().GetTypedConfig(), &tlsv3.DownstreamTlsContext{}); ok {
		c.tlsContext(what, ctx.GetCommonTlsContext())
	}
}

func (c *refChecker) routeConfig(what string, rc *routev3.RouteConfiguration) {
	for _, vh := range rc.GetVirtualHosts() {
		for i, rt := range vh.GetRoutes() {
			a := rt.GetRoute()
			if a == nil {
				continue
			}
			at := fmt.Sprintf("%s: virtual host %s: route %d", what, vh.GetName(), i)
			if n := a.GetCluster(); n != "" {
				c.need(at, resource.ClusterType, n)
			}
			for _, wc := range a.GetWeightedClusters().GetClusters() {
				c.need(at, resource.ClusterType, wc.GetName())
			}
			for _, m := range a.GetRequestMirrorPolicies() {
				c.need(at+" (mirror)", resource.ClusterType, m.GetCluster())
			}
		}
	}
}

func (c *refChecker) cluster(cl *clusterv3.Cluster) {
	what := "cluster " + cl.GetName()
	if cl.GetType() == clusterv3.Cluster_EDS {
		name := cl.GetEdsClusterConfig().GetServiceName()
		if name == "" {
			name = cl.GetName()
		}
		c.need(what, resource.EndpointType, name)
	}
	if ctx, ok := unpack(cl.GetTransportSocket().GetTypedConfig(), &tlsv3.UpstreamTlsContext{}); ok {
		c.tlsContext(what, ctx.GetCommonTlsContext())
	}
}

func (c *refChecker) tlsContext(what string, common *tlsv3.CommonTlsContext) {
	for _, s := range common.GetTlsCertificateSdsSecretConfigs() {
		c.need(what, resource.SecretType, s.GetName())
	}
	if s := common.GetValidationContextSdsSecretConfig(); s != nil {
		c.need(what, resource.SecretType, s.GetName())
	}
	if s := common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig(); s != nil {
		c.need(what, resource.SecretType, s.GetName())
	}
}
