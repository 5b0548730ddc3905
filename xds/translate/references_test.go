package translate

import (
	"errors"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// TestCheckReferences breaks, one way at a time, the references of a translation that
// has them all (TLS vhosts, weighted and mirror clusters, upstream TLS) and checks that
// each break is reported and named.
func TestCheckReferences(t *testing.T) {
	cases := map[string]struct {
		breakIt func(t *testing.T, r *Messages)
		want    []string
	}{
		"intact": {breakIt: func(*testing.T, *Messages) {}},
		"route configuration of a filter chain not served": {
			breakIt: func(_ *testing.T, r *Messages) { r.Routes = dropNamed(r.Routes, "https/secure.example.com") },
			want:    []string{`listener ingress_https: filter chain "secure.example.com": route configuration "https/secure.example.com" is not served`},
		},
		"route configuration of the HTTP listener not served": {
			breakIt: func(_ *testing.T, r *Messages) { r.Routes = dropNamed(r.Routes, HTTPRouteConfigName) },
			want:    []string{`listener ingress_http: filter chain 0: route configuration "ingress_http" is not served`},
		},
		"cluster of weighted clusters and mirrors not served": {
			breakIt: func(_ *testing.T, r *Messages) { r.Clusters = dropNamed(r.Clusters, "shop/b/80/da39a3ee5e") },
			want: []string{
				`route configuration ingress_http: virtual host backends.example.com: route 0 (mirror): cluster "shop/b/80/da39a3ee5e" is not served`,
				`route configuration ingress_http: virtual host backends.example.com: route 2: cluster "shop/b/80/da39a3ee5e" is not served`,
				`route configuration ingress_http: virtual host backends.example.com: route 3 (mirror): cluster "shop/b/80/da39a3ee5e" is not served`,
				`route configuration ingress_http: virtual host backends.example.com: route 4: cluster "shop/b/80/da39a3ee5e" is not served`,
			},
		},
		"cluster of a route not served": {
			breakIt: func(_ *testing.T, r *Messages) { r.Clusters = dropNamed(r.Clusters, "web/app/80/da39a3ee5e") },
			want: []string{
				`route configuration https/secure.example.com: virtual host secure.example.com: route 2: cluster "web/app/80/da39a3ee5e" is not served`,
				`route configuration https/secure.example.com: virtual host secure.example.com: route 3: cluster "web/app/80/da39a3ee5e" is not served`,
				`route configuration ingress_http: virtual host plain.example.com: route 0: cluster "web/app/80/da39a3ee5e" is not served`,
				`route configuration ingress_http: virtual host secure.example.com: route 2: cluster "web/app/80/da39a3ee5e" is not served`,
			},
		},
		"EDS name not served": {
			breakIt: func(_ *testing.T, r *Messages) { r.Endpoints = dropNamed(r.Endpoints, "shop/c") },
			want:    []string{`cluster shop/c/80/da39a3ee5e: cluster load assignment "shop/c" is not served`},
		},
		"SDS secret of a filter chain not served": {
			breakIt: func(_ *testing.T, r *Messages) { r.Secrets = nil },
			want:    []string{`listener ingress_https: filter chain "secure.example.com": secret "web/cert" is not served`},
		},
		"SDS secret of an upstream TLS context not served": {
			breakIt: func(t *testing.T, r *Messages) {
				ctx := &tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
					TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: "ns/client-cert", SdsConfig: adsSource()}},
					ValidationContextType: &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
						ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: "ns/ca", SdsConfig: adsSource()},
					},
				}}
				r.Clusters[0].TransportSocket = &corev3.TransportSocket{
					Name:       "envoy.transport_sockets.tls",
					ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(t, ctx)},
				}
			},
			want: []string{
				`cluster other/other-app/80/da39a3ee5e: secret "ns/client-cert" is not served`,
				`cluster other/other-app/80/da39a3ee5e: secret "ns/ca" is not served`,
			},
		},
		"inline route configuration": {
			breakIt: func(t *testing.T, r *Messages) {
				hcm := &hcmv3.HttpConnectionManager{StatPrefix: "inline", RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{
					RouteConfig: &routev3.RouteConfiguration{VirtualHosts: []*routev3.VirtualHost{{
						Name: "inline", Domains: []string{"*"},
						Routes: []*routev3.Route{{
							Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
							Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "nowhere"}}},
						}},
					}}},
				}}
				r.Listeners[0].FilterChains[0].Filters[0].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, hcm)}
			},
			want: []string{`listener ingress_http: filter chain 0: inline route configuration: virtual host inline: route 0: cluster "nowhere" is not served`},
		},
		"duplicate names": {
			breakIt: func(_ *testing.T, r *Messages) {
				r.Endpoints = append(r.Endpoints, proto.Clone(r.Endpoints[0]).(*endpointv3.ClusterLoadAssignment))
				r.Clusters = append(r.Clusters, proto.Clone(r.Clusters[0]).(*clusterv3.Cluster))
			},
			want: []string{`two clusters are named "other/other-app/80/da39a3ee5e"`, `two cluster load assignments are named "other/other-app"`},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := merged(t, "tls-vhost", "weighted-mirror")
			tc.breakIt(t, r)
			err := CheckReferences(r)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("CheckReferences: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrReference) {
				t.Fatalf("CheckReferences = %v, want an error wrapping ErrReference", err)
			}
			got := strings.Split(err.Error(), "\n")
			for _, w := range tc.want {
				if !containsSuffix(got, w) {
					t.Errorf("CheckReferences does not report %q; it reports:\n%s", w, err)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("CheckReferences reports %d problems, want %d:\n%s", len(got), len(tc.want), err)
			}
		})
	}
}

// merged translates several golden cases and puts their resources together (the cases
// must not share resource names other than the ingress_http listener and route
// configuration, of which the first case's are kept).
func merged(t *testing.T, cases ...string) *Messages {
	t.Helper()
	out := &Messages{}
	for _, c := range cases {
		m, opts := loadCase(t, "testdata/"+c+".in.yaml")
		res, err := Translate(m, opts)
		if err != nil {
			t.Fatal(err)
		}
		r := decode(t, res)
		if len(out.Listeners) > 0 {
			r.Listeners = dropNamed(r.Listeners, HTTPListenerName)
			// Keep the HTTP listener's route configuration: merge its vhosts.
			rc := r.Routes[indexNamed(r.Routes, HTTPRouteConfigName)]
			first := out.Routes[indexNamed(out.Routes, HTTPRouteConfigName)]
			first.VirtualHosts = append(first.VirtualHosts, rc.VirtualHosts...)
			r.Routes = dropNamed(r.Routes, HTTPRouteConfigName)
		}
		out.Listeners = append(out.Listeners, r.Listeners...)
		out.Routes = append(out.Routes, r.Routes...)
		out.Clusters = append(out.Clusters, r.Clusters...)
		out.Endpoints = append(out.Endpoints, r.Endpoints...)
		out.Secrets = append(out.Secrets, r.Secrets...)
	}
	return out
}

type named interface {
	proto.Message
	GetName() string
}

func nameOf(m proto.Message) string {
	if cla, ok := m.(*endpointv3.ClusterLoadAssignment); ok {
		return cla.GetClusterName()
	}
	return m.(named).GetName()
}

func dropNamed[T proto.Message](list []T, name string) []T {
	var out []T
	for _, m := range list {
		if nameOf(m) != name {
			out = append(out, m)
		}
	}
	return out
}

func indexNamed[T proto.Message](list []T, name string) int {
	for i, m := range list {
		if nameOf(m) == name {
			return i
		}
	}
	panic("no resource named " + name)
}

func containsSuffix(lines []string, suffix string) bool {
	for _, l := range lines {
		if strings.HasSuffix(l, suffix) {
			return true
		}
	}
	return false
}

func mustAny(t testing.TB, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
