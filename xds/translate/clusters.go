package translate

import (
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/projectwarden/warden/controller/model"
)

// Contour's cluster defaults.
const (
	connectTimeout = 2 * time.Second

	// Health check defaults, for the model's zero values.
	healthCheckInterval  = 5 * time.Second
	healthCheckTimeout   = 2 * time.Second
	healthCheckUnhealthy = 3
	healthCheckHealthy   = 2
	// healthCheckHost is Contour's Host header for health checks without one, kept so
	// that upstreams that recognise Contour's probes recognise Warden's.
	healthCheckHost = "contour-envoy-healthcheck"

	// httpProtocolOptionsKey is where typed_extension_protocol_options holds the upstream
	// HTTP options.
	httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
)

// isTLS reports whether Envoy speaks TLS to upstreams of protocol p.
func isTLS(p model.Protocol) bool { return p == model.ProtocolTLS || p == model.ProtocolH2 }

// upstreamCAKey is the Secret whose CA bundle c's TLS context inlines (see upstreamTLS),
// zero when it inlines none: with the options, c and that bundle are all a cluster's
// translation depends on.
func upstreamCAKey(c *model.Cluster) model.Key {
	if v := c.UpstreamValidation; v != nil && isTLS(c.Protocol) {
		return v.CASecret
	}
	return model.Key{}
}

// caData is the CA bundle of the Secret k (nil when it has none).
func (t *translator) caData(k model.Key) []byte {
	if s := t.secretByKey[k]; s != nil {
		return s.Data[KeyCA]
	}
	return nil
}

// cluster is an EDS cluster with Contour's settings: a 2 s connect timeout and the panic
// threshold disabled, so that Envoy never sends traffic to endpoints EDS marks unhealthy
// or draining (see endpoints).
func (t *translator) cluster(c *model.Cluster) (*clusterv3.Cluster, error) {
	ec := &clusterv3.Cluster{
		Name:                 c.Name,
		AltStatName:          altStatName(c),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource(), ServiceName: c.EDSName},
		ConnectTimeout:       durationpb.New(connectTimeout),
		LbPolicy:             lbPolicy(c.LoadBalancer),
		CommonLbConfig: &clusterv3.Cluster_CommonLbConfig{
			HealthyPanicThreshold: &typev3.Percent{Value: 0},
		},
	}
	if hc := c.HealthCheck; hc != nil {
		ec.HealthChecks = []*corev3.HealthCheck{healthCheck(hc)}
		// Drain connections at once when EDS removes a host that is health checked.
		ec.IgnoreHealthOnHostRemoval = true
	}
	if c.Protocol == model.ProtocolH2 || c.Protocol == model.ProtocolH2C {
		opts, err := pack(&httpv3.HttpProtocolOptions{
			UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
				ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
					ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
						Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
					},
				},
			},
		}, "HttpProtocolOptions")
		if err != nil {
			return nil, err
		}
		ec.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpProtocolOptionsKey: opts}
	}
	if isTLS(c.Protocol) {
		ctx, err := pack(t.upstreamTLS(c), "UpstreamTlsContext")
		if err != nil {
			return nil, err
		}
		ec.TransportSocket = &corev3.TransportSocket{
			Name:       wellknown.TransportSocketTLS,
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: ctx},
		}
	}
	return ec, nil
}

// altStatName is Contour's readable stat name: namespace_service_port.
func altStatName(c *model.Cluster) string {
	return c.Service.Namespace + "_" + c.Service.Name + "_" + strconv.Itoa(int(c.Port))
}

// lbPolicy maps the HTTPProxy strategy as Contour does; Cookie and RequestHash hash the
// route's hash policies onto a ring.
func lbPolicy(strategy string) clusterv3.Cluster_LbPolicy {
	switch strategy {
	case "WeightedLeastRequest":
		return clusterv3.Cluster_LEAST_REQUEST
	case "Random":
		return clusterv3.Cluster_RANDOM
	case "Cookie", "RequestHash":
		return clusterv3.Cluster_RING_HASH
	default: // "", "RoundRobin"
		return clusterv3.Cluster_ROUND_ROBIN
	}
}

func healthCheck(hc *model.HealthCheck) *corev3.HealthCheck {
	host := hc.Host
	if host == "" {
		host = healthCheckHost
	}
	h := &corev3.HealthCheck_HttpHealthCheck{Host: host, Path: hc.Path}
	for _, r := range hc.ExpectedStatuses {
		h.ExpectedStatuses = append(h.ExpectedStatuses, &typev3.Int64Range{Start: r.Start, End: r.End})
	}
	return &corev3.HealthCheck{
		Interval:           durationpb.New(durationOr(hc.Interval.Duration, healthCheckInterval)),
		Timeout:            durationpb.New(durationOr(hc.Timeout.Duration, healthCheckTimeout)),
		UnhealthyThreshold: wrapperspb.UInt32(uint32Or(hc.UnhealthyThreshold, healthCheckUnhealthy)),
		HealthyThreshold:   wrapperspb.UInt32(uint32Or(hc.HealthyThreshold, healthCheckHealthy)),
		HealthChecker:      &corev3.HealthCheck_HttpHealthCheck_{HttpHealthCheck: h},
	}
}

func durationOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func uint32Or(v, def uint32) uint32 {
	if v == 0 {
		return def
	}
	return v
}

// upstreamTLS is the TLS context of a "tls" or "h2" cluster: SNI (the route's Host
// rewrite, if any), ALPN h2 for h2, and, with upstream validation, the CA inlined and the
// subject name required as a DNS SAN, as in Contour.
func (t *translator) upstreamTLS(c *model.Cluster) *tlsv3.UpstreamTlsContext {
	common := &tlsv3.CommonTlsContext{
		TlsParams: &tlsv3.TlsParameters{
			TlsMinimumProtocolVersion: tlsVersions[t.o.UpstreamMinTLSVersion],
			TlsMaximumProtocolVersion: max(tlsVersions[t.o.UpstreamMaxTLSVersion], tlsVersions[t.o.UpstreamMinTLSVersion]),
		},
	}
	if c.Protocol == model.ProtocolH2 {
		common.AlpnProtocols = []string{"h2"}
	}
	if v := c.UpstreamValidation; v != nil {
		vc := &tlsv3.CertificateValidationContext{TrustedCa: inlineBytes(t.secretByKey[v.CASecret].Data[KeyCA])}
		if v.SubjectName != "" {
			vc.MatchTypedSubjectAltNames = []*tlsv3.SubjectAltNameMatcher{{
				SanType: tlsv3.SubjectAltNameMatcher_DNS,
				Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v.SubjectName}},
			}}
		}
		common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: vc}
	}
	return &tlsv3.UpstreamTlsContext{Sni: c.SNI, CommonTlsContext: common}
}
