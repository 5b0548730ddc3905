package translate

import (
	"bytes"
	"fmt"
	"slices"

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

// routerFilter is the packed router filter that every HTTP connection manager ends with.
func routerFilter() (*anypb.Any, error) { return pack(&routerv3.Router{}, "listeners: router filter") }

// httpListener is ingress_http: one filter chain whose HTTP connection manager uses the
// route configuration ingress_http. It depends on the options only.
func (t *translator) httpListener(router *anypb.Any) (*listenerv3.Listener, error) {
	hcm, err := t.connectionManager(HTTPListenerName, HTTPRouteConfigName, nil, router)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", HTTPListenerName, err)
	}
	return &listenerv3.Listener{
		Name:         HTTPListenerName,
		Address:      listenerAddress(t.o.Address, t.o.HTTPPort),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{hcm}}},
	}, nil
}

// httpsShell is ingress_https without its filter chains (vhostChain, fallbackChain), which
// the caller adds: the listener is served only when it has at least one, since Envoy
// rejects a listener without filter chains (and Contour removes it). It depends on the
// options only.
func (t *translator) httpsShell() (*listenerv3.Listener, error) {
	inspector, err := pack(&tlsinspectorv3.TlsInspector{}, "listener "+HTTPSListenerName+": TLS inspector")
	if err != nil {
		return nil, err
	}
	return &listenerv3.Listener{
		Name:    HTTPSListenerName,
		Address: listenerAddress(t.o.Address, t.o.HTTPSPort),
		ListenerFilters: []*listenerv3.ListenerFilter{{
			Name:       wellknown.TlsInspector,
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: inspector},
		}},
	}, nil
}

// vhostChain is the ingress_https filter chain of a served TLS vhost, matched on its SNI.
// It depends on the vhost's fqdn and TLS settings and on the data of its client CA and CRL
// (see chainInputs), not on its routes.
func (t *translator) vhostChain(vh *model.VirtualHost, router *anypb.Any) (*listenerv3.FilterChain, error) {
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
	return fc, nil
}

// fallbackChain is the fallback-certificate chain, matching TLS without a known SNI, served
// when a vhost uses the fallback certificate (translator.fallback); it comes after the
// vhosts' chains. It depends on the fallback certificate's name only.
func (t *translator) fallbackChain(router *anypb.Any) (*listenerv3.FilterChain, error) {
	minV, maxV := t.o.downstreamVersions("", "")
	ctx := t.downstreamTLS(t.fallbackCert, minV, maxV)
	fc, err := t.filterChain(ctx, FallbackRouteConfig, nil, router, "filter chain "+FallbackFilterChain)
	if err != nil {
		return nil, err
	}
	fc.Name = FallbackFilterChain
	fc.FilterChainMatch = &listenerv3.FilterChainMatch{TransportProtocol: "tls"}
	return fc, nil
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

// chainInputs are what a vhost's filter chain is built from besides the options (see
// vhostChain): its fqdn, its TLS settings and the data of its client CA and CRL. A vhost
// rebuilt for a route change has the same inputs, and keeps its chain.
type chainInputs struct {
	key chainKey
	// ca and crl are the inlined data: the model's bytes while comparing, a copy once
	// kept (see clone).
	ca, crl []byte
}

// chainKey is the comparable part of chainInputs.
type chainKey struct {
	fqdn string
	// tls has no ClientValidation, and cv no ForwardClientCert: their values are in cv
	// and fcc, present when hasCV and hasFCC.
	tls           model.TLS
	cv            model.ClientValidation
	fcc           model.ForwardClientCert
	hasCV, hasFCC bool
}

// chainInputs are vh's inputs, sharing the model's bytes.
func (t *translator) chainInputs(vh *model.VirtualHost) chainInputs {
	in := chainInputs{key: chainKey{fqdn: vh.FQDN, tls: *vh.TLS}}
	in.key.tls.ClientValidation = nil
	if cv := vh.TLS.ClientValidation; cv != nil {
		in.key.cv, in.key.hasCV = *cv, true
		in.key.cv.ForwardClientCert = nil
		if f := cv.ForwardClientCert; f != nil {
			in.key.fcc, in.key.hasFCC = *f, true
		}
	}
	return in.withData(t)
}

// withData is a with the current data of its client CA and CRL, sharing the model's
// bytes.
func (a chainInputs) withData(t *translator) chainInputs {
	a.ca, a.crl = nil, nil
	if !a.key.hasCV {
		return a
	}
	if s := t.secretByKey[a.key.cv.CASecret]; s != nil && !a.key.cv.CASecret.IsZero() {
		a.ca = s.Data[KeyCA]
	}
	if s := t.secretByKey[a.key.cv.CRLSecret]; s != nil && !a.key.cv.CRLSecret.IsZero() {
		a.crl = s.Data[KeyCRL]
	}
	return a
}

// equal reports whether two chains built from a and b are the same.
func (a chainInputs) equal(b chainInputs) bool {
	return a.key == b.key && bytes.Equal(a.ca, b.ca) && bytes.Equal(a.crl, b.crl)
}

// clone copies the bytes in, which the caller (Secret data) may change in place.
func (a chainInputs) clone() chainInputs {
	a.ca, a.crl = slices.Clone(a.ca), slices.Clone(a.crl)
	return a
}
