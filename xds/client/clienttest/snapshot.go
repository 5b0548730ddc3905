package clienttest

import (
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Names of the resources of a Snapshot, as Warden names them.
const (
	// ListenerHTTP is the plaintext listener; its connection manager uses RouteHTTP.
	ListenerHTTP = "ingress_http"
	// ListenerHTTPS is the TLS listener; its one filter chain (SNI HTTPSDomain) uses
	// RouteHTTPS and the certificate Secret.
	ListenerHTTPS = "ingress_https"
	// RouteHTTP is the route configuration of ListenerHTTP.
	RouteHTTP = "ingress_http"
	// HTTPSDomain is the domain served over TLS.
	HTTPSDomain = "secure.example.com"
	// RouteHTTPS is the route configuration of ListenerHTTPS.
	RouteHTTPS = "https/" + HTTPSDomain
	// Secret is the TLS certificate of ListenerHTTPS, served over SDS.
	Secret = "s"
	// PrivateKey is the private key of Secret (not a real key). A dump must not show it.
	PrivateKey = "-----BEGIN PRIVATE KEY-----\nVEhJUy1JUy1USEUtU0VDUkVULUtFWQ==\n-----END PRIVATE KEY-----\n"
	// CertificateChain is the certificate chain of Secret (not a real certificate).
	CertificateChain = "-----BEGIN CERTIFICATE-----\nTk9ULUEtUkVBTC1DRVJUSUZJQ0FURQ==\n-----END CERTIFICATE-----\n"
)

// Fixture describes a Snapshot.
type Fixture struct {
	// Version is the snapshot's version. Required.
	Version string
	// Cluster is the EDS cluster both route configurations send traffic to, and the
	// service name of its ClusterLoadAssignment. Default "a".
	Cluster string
	// Domain is the domain of RouteHTTP's virtual host: changing it changes that route
	// configuration only. Default "www.example.com".
	Domain string
}

// Snapshot returns a snapshot holding two listeners, their two route configurations, one
// EDS cluster with its ClusterLoadAssignment, and the SDS secret of the TLS listener. Every
// resource passes ValidateAll and the snapshot is consistent.
func Snapshot(t testing.TB, f Fixture) *cachev3.Snapshot {
	t.Helper()
	if f.Cluster == "" {
		f.Cluster = "a"
	}
	if f.Domain == "" {
		f.Domain = "www.example.com"
	}
	resources := map[resource.Type][]types.Resource{
		resource.ListenerType: {
			httpListener(t),
			httpsListener(t),
		},
		resource.RouteType: {
			routeConfig(RouteHTTP, f.Domain, f.Cluster),
			routeConfig(RouteHTTPS, HTTPSDomain, f.Cluster),
		},
		resource.ClusterType:  {edsCluster(f.Cluster)},
		resource.EndpointType: {assignment(f.Cluster)},
		resource.SecretType:   {secret()},
	}
	for _, rs := range resources {
		for _, r := range rs {
			validate(t, r)
		}
	}
	s, err := cachev3.NewSnapshot(f.Version, resources)
	if err != nil {
		t.Fatalf("NewSnapshot: %v", err)
	}
	if err := s.Consistent(); err != nil {
		t.Fatalf("snapshot %s is inconsistent: %v", f.Version, err)
	}
	return s
}

// validate fails the test if m does not pass ValidateAll.
func validate(t testing.TB, m proto.Message) {
	t.Helper()
	v, ok := m.(interface{ ValidateAll() error })
	if !ok {
		t.Fatalf("%T has no ValidateAll", m)
	}
	if err := v.ValidateAll(); err != nil {
		t.Fatalf("invalid %T: %v", m, err)
	}
}

// pack validates m and packs it into an Any (validation does not look into Any).
func pack(t testing.TB, m proto.Message) *anypb.Any {
	t.Helper()
	validate(t, m)
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// ads is the config source of every reference: the ADS stream.
func ads() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

func address(port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       "0.0.0.0",
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// connectionManager is an HTTP connection manager filter whose routes come from RDS.
func connectionManager(t testing.TB, statPrefix, routeConfig string) *listenerv3.Filter {
	t.Helper()
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: statPrefix,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    ads(),
			RouteConfigName: routeConfig,
		}},
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       wellknown.Router,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: pack(t, &routerv3.Router{})},
		}},
	}
	return &listenerv3.Filter{
		Name:       wellknown.HTTPConnectionManager,
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: pack(t, hcm)},
	}
}

func httpListener(t testing.TB) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:    ListenerHTTP,
		Address: address(8080),
		FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{connectionManager(t, ListenerHTTP, RouteHTTP)},
		}},
	}
}

func httpsListener(t testing.TB) *listenerv3.Listener {
	tlsContext := &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: Secret, SdsConfig: ads()}},
	}}
	return &listenerv3.Listener{
		Name:    ListenerHTTPS,
		Address: address(8443),
		FilterChains: []*listenerv3.FilterChain{{
			FilterChainMatch: &listenerv3.FilterChainMatch{ServerNames: []string{HTTPSDomain}},
			TransportSocket: &corev3.TransportSocket{
				Name:       wellknown.TransportSocketTLS,
				ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: pack(t, tlsContext)},
			},
			Filters: []*listenerv3.Filter{connectionManager(t, ListenerHTTPS, RouteHTTPS)},
		}},
	}
}

func routeConfig(name, domain, cluster string) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{
		Name: name,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    domain,
			Domains: []string{domain},
			Routes: []*routev3.Route{{
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
				}},
			}},
		}},
	}
}

func edsCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ConnectTimeout:       durationpb.New(2 * time.Second),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads(), ServiceName: name},
	}
}

func assignment(name string) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: name,
		Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
						Address:       "10.0.0.1",
						PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8080},
					}}},
				}},
			}},
		}},
	}
}

func secret() *tlsv3.Secret {
	return &tlsv3.Secret{
		Name: Secret,
		Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: CertificateChain}},
			PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: []byte(PrivateKey)}},
		}},
	}
}
