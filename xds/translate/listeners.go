package translate

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/projectwarden/warden/controller/model"
)

// alpn is what HTTPS virtual hosts offer clients, as in Contour.
var alpn = []string{"h2", "http/1.1"}

// adsSource is the config source of every RDS, EDS and SDS reference: the ADS stream the
// bootstrap (xds/bootstrap) opens.
func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// listeners builds ingress_http and, when at least one TLS vhost is served,
// ingress_https.
func (t *translator) listeners() ([]*listenerv3.Listener, error) {
	router, err := pack(&routerv3.Router{}, "listeners: router filter")
	if err != nil {
		return nil, err
	}
	hcm, err := t.connectionManager(HTTPListenerName, HTTPRouteConfigName, nil, router)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", HTTPListenerName, err)
	}
	out := []*listenerv3.Listener{{
		Name:         HTTPListenerName,
		Address:      listenerAddress(t.o.Address, t.o.HTTPPort),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{hcm}}},
	}}

	chains, err := t.httpsFilterChains(router)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", HTTPSListenerName, err)
	}
	if len(chains) == 0 {
		// Contour removes a listener without filter chains; Envoy would reject it.
		return out, nil
	}
	inspector, err := pack(&tlsinspectorv3.TlsInspector{}, "listener "+HTTPSListenerName+": TLS inspector")
	if err != nil {
		return nil, err
	}
	return append(out, &listenerv3.Listener{
		Name:    HTTPSListenerName,
		Address: listenerAddress(t.o.Address, t.o.HTTPSPort),
		ListenerFilters: []*listenerv3.ListenerFilter{{
			Name:       wellknown.TlsInspector,
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: inspector},
		}},
		FilterChains: chains,
	}), nil
}

// httpsFilterChains is one chain per served TLS vhost, matched on its SNI, plus the
// fallback-certificate chain (matching TLS without a known SNI) when a vhost uses it.
func (t *translator) httpsFilterChains(router *anypb.Any) ([]*listenerv3.FilterChain, error) {
	chains := make([]*listenerv3.FilterChain, 0, len(t.secure)+1)
	for _, vh := range t.secure {
		what := fmt.Sprintf("filter chain %q", vh.FQDN)
		minV, maxV := t.o.downstreamVersions(vh.TLS.MinVersion, vh.TLS.MaxVersion)
		ctx := t.downstreamTLS(vh.TLS.SecretRef, minV, maxV)
		var fcc *model.ForwardClientCert
		if cv := vh.TLS.ClientValidation; cv != nil {
			t.clientValidation(ctx, cv)
			fcc = cv.ForwardClientCert
		}
		fc, err := t.filterChain(ctx, HTTPSRouteConfigName(vh.FQDN), fcc, router, what)
		if err != nil {
			return nil, err
		}
		fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: []string{vh.FQDN}}
		chains = append(chains, fc)
	}
	if len(t.fallback) > 0 {
		minV, maxV := t.o.downstreamVersions("", "")
		ctx := t.downstreamTLS(t.fallbackCert, minV, maxV)
		fc, err := t.filterChain(ctx, FallbackRouteConfig, nil, router, "filter chain "+FallbackFilterChain)
		if err != nil {
			return nil, err
		}
		fc.Name = FallbackFilterChain
		fc.FilterChainMatch = &listenerv3.FilterChainMatch{TransportProtocol: "tls"}
		chains = append(chains, fc)
	}
	return chains, nil
}

// filterChain is a TLS filter chain with one HTTP connection manager using route
// configuration rds; the caller sets its match.
func (t *translator) filterChain(ctx *tlsv3.DownstreamTlsContext, rds string, fcc *model.ForwardClientCert, router *anypb.Any, what string) (*listenerv3.FilterChain, error) {
	tlsCtx, err := pack(ctx, what+": DownstreamTlsContext")
	if err != nil {
		return nil, err
	}
	hcm, err := t.connectionManager(HTTPSListenerName, rds, fcc, router)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return &listenerv3.FilterChain{
		TransportSocket: &corev3.TransportSocket{
			Name:       wellknown.TransportSocketTLS,
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: tlsCtx},
		},
		Filters: []*listenerv3.Filter{hcm},
	}, nil
}

// downstreamTLS serves the certificate cert over SDS with the given versions and the
// fleet's cipher suites.
func (t *translator) downstreamTLS(cert model.Key, minV, maxV tlsv3.TlsParameters_TlsProtocol) *tlsv3.DownstreamTlsContext {
	return &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsParams: &tlsv3.TlsParameters{
			TlsMinimumProtocolVersion: minV,
			TlsMaximumProtocolVersion: maxV,
			CipherSuites:              t.o.CipherSuites,
		},
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: secretName(cert), SdsConfig: adsSource()}},
		AlpnProtocols:                  alpn,
	}}
}

// clientValidation asks clients for a certificate and validates it against the inlined CA
// (and CRL), as Contour does; SkipVerify accepts any certificate.
func (t *translator) clientValidation(ctx *tlsv3.DownstreamTlsContext, cv *model.ClientValidation) {
	vc := &tlsv3.CertificateValidationContext{}
	if cv.SkipVerify {
		vc.TrustChainVerification = tlsv3.CertificateValidationContext_ACCEPT_UNTRUSTED
	}
	if !cv.CASecret.IsZero() {
		vc.TrustedCa = inlineBytes(t.secretByKey[cv.CASecret].Data[KeyCA])
	}
	if !cv.CRLSecret.IsZero() {
		vc.Crl = inlineBytes(t.secretByKey[cv.CRLSecret].Data[KeyCRL])
		vc.OnlyVerifyLeafCertCrl = cv.CRLOnlyVerifyLeaf
	}
	ctx.CommonTlsContext.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: vc}
	ctx.RequireClientCertificate = wrapperspb.Bool(!cv.OptionalClientCert)
}

// connectionManager is the HTTP connection manager filter of a listener or filter chain,
// with Contour's settings (see the package documentation).
func (t *translator) connectionManager(statPrefix, rds string, fcc *model.ForwardClientCert, router *anypb.Any) (*listenerv3.Filter, error) {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: statPrefix,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsSource(),
			RouteConfigName: rds,
		}},
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       wellknown.Router,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router},
		}},
		// HTTP/1.0 requests that carry a Host header are served (Contour #537).
		HttpProtocolOptions:       &corev3.Http1ProtocolOptions{AcceptHttp_10: true},
		UseRemoteAddress:          wrapperspb.Bool(true),
		NormalizePath:             wrapperspb.Bool(true),
		PreserveExternalRequestId: true,
		// Virtual host domains never carry a port, and clients may send one.
		StripPortMode: &hcmv3.HttpConnectionManager_StripAnyHostPort{StripAnyHostPort: true},
	}
	if fcc != nil {
		hcm.ForwardClientCertDetails = hcmv3.HttpConnectionManager_SANITIZE_SET
		hcm.SetCurrentClientCertDetails = &hcmv3.HttpConnectionManager_SetCurrentClientCertDetails{
			Subject: wrapperspb.Bool(fcc.Subject),
			Cert:    fcc.Cert,
			Chain:   fcc.Chain,
			Dns:     fcc.DNS,
			Uri:     fcc.URI,
		}
	}
	a, err := pack(hcm, "HttpConnectionManager (route configuration "+rds+")")
	if err != nil {
		return nil, err
	}
	return &listenerv3.Filter{
		Name:       wellknown.HTTPConnectionManager,
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: a},
	}, nil
}

// listenerAddress is where a listener binds. "::" also accepts IPv4 connections
// (ipv4_compat), as in Contour.
func listenerAddress(addr string, port uint32) *corev3.Address {
	a := socketAddress(addr, port)
	if addr == "::" {
		a.GetSocketAddress().Ipv4Compat = true
	}
	return a
}

func socketAddress(addr string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Protocol:      corev3.SocketAddress_TCP,
		Address:       addr,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}
