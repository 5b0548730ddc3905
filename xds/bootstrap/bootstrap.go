package bootstrap

import (
	"fmt"
	"net"
	"path/filepath"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Names in the generated configuration. Dashboards and the xDS translation refer to them.
const (
	// XDSCluster is the static cluster of the xDS server, which ADS uses.
	XDSCluster = "warden"

	// AdminCluster is a static cluster reaching Envoy's own admin socket, for a listener
	// that exposes selected admin paths (/stats, /ready) on the pod network.
	AdminCluster = "envoy-admin"

	// TLSCertificateSecret and ValidationContextSecret are the names of the SDS secrets
	// holding Envoy's client certificate and the CA it checks the xDS server against.
	TLSCertificateSecret    = "warden_xds_tls_certificate"
	ValidationContextSecret = "warden_xds_validation_context"

	// TLSCertificateFile and ValidationContextFile are the SDS files, relative to
	// Options.ResourcesDir, holding those secrets.
	TLSCertificateFile    = "sds/xds-tls-certificate.json"
	ValidationContextFile = "sds/xds-validation-context.json"
)

// Well-known Envoy extension names.
const (
	httpProtocolOptionsName = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	tlsTransportSocketName  = "envoy.transport_sockets.tls"
)

// Connection settings of the xDS cluster.
const (
	// xdsConnectTimeout is Contour's: generous for a Service inside the cluster.
	xdsConnectTimeout = 5 * time.Second
	// adminConnectTimeout bounds connecting to a local unix socket.
	adminConnectTimeout = 250 * time.Millisecond
	// TCP keepalive (probes, idle seconds, interval seconds), Contour's values: a dead xDS
	// server is noticed within about 45 s, and Envoy reconnects to another replica.
	keepaliveProbes   = 3
	keepaliveTime     = 30
	keepaliveInterval = 5
	// Circuit-breaker limits raised far above Envoy's defaults (1024 requests), as Contour
	// does: each xDS stream is a request, and the control plane must never be the one
	// upstream Envoy refuses to reach.
	maxConnections     = 100000
	maxPendingRequests = 100000
	maxRequests        = 60000000
	maxRetries         = 50
)

// Generate returns the Envoy bootstrap described by o, checked with ValidateAll (the
// messages packed into Any fields too). It does not write the SDS files that the bootstrap
// refers to when o.ResourcesDir is set: Write does.
func Generate(o Options) (*bootstrapv3.Bootstrap, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("invalid bootstrap options: %w", err)
	}
	xds, err := xdsCluster(o)
	if err != nil {
		return nil, err
	}
	b := &bootstrapv3.Bootstrap{
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{
			Clusters: []*clusterv3.Cluster{xds, adminCluster(o)},
		},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			AdsConfig: adsConfig(o),
			LdsConfig: adsConfigSource(),
			CdsConfig: adsConfigSource(),
		},
		Admin: &bootstrapv3.Admin{Address: pipeAddress(o.AdminSocket)},
	}
	if o.NodeID != "" || o.Cluster != "" {
		b.Node = &corev3.Node{Id: o.NodeID, Cluster: o.Cluster}
	}
	if err := b.ValidateAll(); err != nil {
		return nil, fmt.Errorf("generated bootstrap is invalid: %w", err)
	}
	return b, nil
}

// adsConfig is the ADS stream to the xDS cluster.
func adsConfig(o Options) *corev3.ApiConfigSource {
	apiType := corev3.ApiConfigSource_GRPC
	if o.Delta {
		apiType = corev3.ApiConfigSource_DELTA_GRPC
	}
	return &corev3.ApiConfigSource{
		ApiType:             apiType,
		TransportApiVersion: corev3.ApiVersion_V3,
		GrpcServices: []*corev3.GrpcService{{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: XDSCluster}},
		}},
		// The node is sent once per stream; go-control-plane remembers it.
		SetNodeOnFirstMessageOnly: true,
	}
}

// adsConfigSource is a ConfigSource fetched over ADS.
func adsConfigSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// xdsCluster is the static cluster of the xDS server: HTTP/2 (gRPC), TCP keepalive, high
// circuit breakers and, when o has TLS files, mutual TLS.
func xdsCluster(o Options) (*clusterv3.Cluster, error) {
	discovery := clusterv3.Cluster_STRICT_DNS
	if net.ParseIP(o.XDSAddress) != nil {
		discovery = clusterv3.Cluster_STATIC
	}
	http2, err := packValid(&httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
				},
			},
		},
	})
	if err != nil {
		return nil, err
	}
	c := &clusterv3.Cluster{
		Name:                          XDSCluster,
		ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: discovery},
		ConnectTimeout:                durationpb.New(xdsConnectTimeout),
		LoadAssignment:                loadAssignment(XDSCluster, socketAddress(o.XDSAddress, o.XDSPort)),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{httpProtocolOptionsName: http2},
		UpstreamConnectionOptions: &clusterv3.UpstreamConnectionOptions{
			TcpKeepalive: &corev3.TcpKeepalive{
				KeepaliveProbes:   wrapperspb.UInt32(keepaliveProbes),
				KeepaliveTime:     wrapperspb.UInt32(keepaliveTime),
				KeepaliveInterval: wrapperspb.UInt32(keepaliveInterval),
			},
		},
		CircuitBreakers: &clusterv3.CircuitBreakers{
			Thresholds: []*clusterv3.CircuitBreakers_Thresholds{
				thresholds(corev3.RoutingPriority_DEFAULT),
				thresholds(corev3.RoutingPriority_HIGH),
			},
		},
	}
	if o.tls() {
		tlsContext, err := packValid(upstreamTLSContext(o))
		if err != nil {
			return nil, err
		}
		c.TransportSocket = &corev3.TransportSocket{
			Name:       tlsTransportSocketName,
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: tlsContext},
		}
	}
	return c, nil
}

// thresholds are the raised circuit-breaker limits for one priority.
func thresholds(p corev3.RoutingPriority) *clusterv3.CircuitBreakers_Thresholds {
	return &clusterv3.CircuitBreakers_Thresholds{
		Priority:           p,
		MaxConnections:     wrapperspb.UInt32(maxConnections),
		MaxPendingRequests: wrapperspb.UInt32(maxPendingRequests),
		MaxRequests:        wrapperspb.UInt32(maxRequests),
		MaxRetries:         wrapperspb.UInt32(maxRetries),
	}
}

// upstreamTLSContext is Envoy's side of the mutual TLS to the xDS server: TLS 1.3 (the only
// version the server accepts), Envoy's client certificate, and the CA and SAN the server's
// certificate must match. With SDS files, the certificates reach Envoy through them and are
// reloaded on rotation; otherwise they are read once from the files named inline.
func upstreamTLSContext(o Options) *tlsv3.UpstreamTlsContext {
	common := &tlsv3.CommonTlsContext{
		TlsParams: &tlsv3.TlsParameters{
			TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_3,
			TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3,
		},
	}
	if o.sds() {
		common.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{
			sdsFromFile(TLSCertificateSecret, filepath.Join(o.ResourcesDir, TLSCertificateFile)),
		}
		common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
			ValidationContextSdsSecretConfig: sdsFromFile(ValidationContextSecret, filepath.Join(o.ResourcesDir, ValidationContextFile)),
		}
	} else {
		common.TlsCertificates = []*tlsv3.TlsCertificate{{
			CertificateChain: fileSource(o.CertFile),
			PrivateKey:       fileSource(o.KeyFile),
		}}
		common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{
			ValidationContext: validationContext(o),
		}
	}
	return &tlsv3.UpstreamTlsContext{CommonTlsContext: common}
}

// validationContext checks the xDS server's certificate: signed by a CA of o.CAFile, with
// o.ServerName as a DNS SAN.
func validationContext(o Options) *tlsv3.CertificateValidationContext {
	return &tlsv3.CertificateValidationContext{
		TrustedCa: fileSource(o.CAFile),
		MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
			SanType: tlsv3.SubjectAltNameMatcher_DNS,
			Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: o.ServerName}},
		}},
	}
}

// sdsFromFile refers to the SDS secret name served by the file at path.
func sdsFromFile(name, path string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{
		Name: name,
		SdsConfig: &corev3.ConfigSource{
			ResourceApiVersion: corev3.ApiVersion_V3,
			ConfigSourceSpecifier: &corev3.ConfigSource_PathConfigSource{
				PathConfigSource: &corev3.PathConfigSource{Path: path},
			},
		},
	}
}

// adminCluster is a static cluster reaching Envoy's admin socket.
func adminCluster(o Options) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 AdminCluster,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(adminConnectTimeout),
		LoadAssignment:       loadAssignment(AdminCluster, pipeAddress(o.AdminSocket)),
	}
}

// loadAssignment is a single-endpoint assignment for cluster.
func loadAssignment(cluster string, address *corev3.Address) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: cluster,
		Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: address}},
			}},
		}},
	}
}

func socketAddress(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func pipeAddress(path string) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: path}}}
}

func fileSource(path string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
}

// validatable is a generated Envoy message.
type validatable interface {
	proto.Message
	ValidateAll() error
}

// packValid validates m and packs it into an Any. ValidateAll on the enclosing message does
// not look inside Any fields, so what goes into one is validated here.
func packValid(m validatable) (*anypb.Any, error) {
	if err := m.ValidateAll(); err != nil {
		return nil, fmt.Errorf("generated %s is invalid: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	a, err := anypb.New(m)
	if err != nil {
		return nil, fmt.Errorf("packing %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	return a, nil
}
