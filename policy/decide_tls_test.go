package policy_test

import (
	"testing"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/projectwarden/warden/policy"
	fx "github.com/projectwarden/warden/policy/fixture"
)

func TestDecide_tls(t *testing.T) {
	certs := fx.Secret("certs", "wildcard")
	own := fx.Secret("roots", "own")
	fallback := &policy.Key{Namespace: "certs", Name: "fallback"}
	runDecide(t, map[string]decideCase{
		"same_namespace_secret_needs_no_delegation": {
			stored: []client.Object{svcRoot, own},
			obj:    fx.Proxy("roots", "app").FQDN("app.example.com").TLS("own").Route("web", 80).Obj(),
		},
		"cross_namespace_secret_without_delegation_denied": {
			stored:  []client.Object{svcRoot, certs},
			obj:     fx.Proxy("roots", "app").FQDN("app.example.com").TLS("certs/wildcard").Route("web", 80).Obj(),
			denied:  []string{"tls-delegation"},
			message: `Spec.VirtualHost.TLS Secret "certs/wildcard" certificate delegation not permitted [tls-delegation]; fix: spec.virtualhost.tls.secretName: ask the owners of namespace certs for a TLSCertificateDelegation of secret wildcard to namespace roots`,
		},
		"cross_namespace_secret_with_delegation_allowed": {
			stored: []client.Object{svcRoot, certs, fx.Delegation("certs", "d", "wildcard", "roots")},
			obj:    fx.Proxy("roots", "app").FQDN("app.example.com").TLS("certs/wildcard").Route("web", 80).Obj(),
		},
		"lone_star_delegates_to_every_namespace": {
			stored: []client.Object{svcRoot, certs, fx.Delegation("certs", "d", "wildcard", "*")},
			obj:    fx.Proxy("roots", "app").FQDN("app.example.com").TLS("certs/wildcard").Route("web", 80).Obj(),
		},
		"star_beside_other_namespaces_is_not_a_wildcard": {
			stored: []client.Object{svcRoot, certs, fx.Delegation("certs", "d", "wildcard", "*", "team-z")},
			obj:    fx.Proxy("roots", "app").FQDN("app.example.com").TLS("certs/wildcard").Route("web", 80).Obj(),
			denied: []string{"tls-delegation"},
		},
		"delegation_for_another_namespace_denied": {
			stored: []client.Object{svcRoot, certs, fx.Delegation("certs", "d", "wildcard", "marketing")},
			obj:    fx.Proxy("roots", "app").FQDN("app.example.com").TLS("certs/wildcard").Route("web", 80).Obj(),
			denied: []string{"tls-delegation"},
		},
		"delegated_secret_not_found_warns": {
			stored:  []client.Object{svcRoot, fx.Delegation("certs", "d", "wildcard", "roots")},
			obj:     fx.Proxy("roots", "app").FQDN("app.example.com").TLS("certs/wildcard").Route("web", 80).Obj(),
			warned:  []string{"secret-not-found"},
			message: `Spec.VirtualHost.TLS Secret "certs/wildcard" is invalid: Secret not found`,
		},
		"client_ca_and_crl_need_delegation": {
			stored: []client.Object{svcRoot, own, fx.Secret("certs", "ca"), fx.Secret("certs", "crl")},
			obj: fx.Proxy("roots", "app").FQDN("app.example.com").TLS("own").TLSWith(func(t *contourv1.TLS) {
				t.ClientValidation = &contourv1.DownstreamValidation{CACertificate: "certs/ca", CertificateRevocationList: "certs/crl"}
			}).Route("web", 80).Obj(),
			denied:  []string{"tls-delegation"},
			message: `Spec.VirtualHost.TLS CRL Secret "certs/crl" is invalid: certificate delegation not permitted`,
		},
		"upstream_ca_needs_delegation": {
			stored: []client.Object{svcRoot, fx.Secret("certs", "ca")},
			obj: fx.Proxy("roots", "app").FQDN("app.example.com").RouteWith(func(r *contourv1.Route) {
				r.Services = []contourv1.Service{{Name: "web", Port: 80, UpstreamValidation: &contourv1.UpstreamValidation{CACertificate: "certs/ca", SubjectName: "web"}}}
			}).Obj(),
			denied:  []string{"tls-delegation"},
			message: `service.UpstreamValidation.CACertificate Secret "certs/ca" is not configured for certificate delegation`,
		},
		"fallback_certificate_needs_delegation": {
			settings: policy.Settings{FallbackCertificate: fallback},
			stored:   []client.Object{svcRoot, own, fx.Secret("certs", "fallback")},
			obj: fx.Proxy("roots", "app").FQDN("app.example.com").TLS("own").TLSWith(func(t *contourv1.TLS) {
				t.EnableFallbackCertificate = true
			}).Route("web", 80).Obj(),
			denied:  []string{"tls-delegation"},
			message: `Spec.VirtualHost.TLS Secret "certs/fallback" is not configured for certificate delegation`,
		},
		"fallback_certificate_not_configured_denied": {
			stored: []client.Object{svcRoot, own},
			obj: fx.Proxy("roots", "app").FQDN("app.example.com").TLS("own").TLSWith(func(t *contourv1.TLS) {
				t.EnableFallbackCertificate = true
			}).Route("web", 80).Obj(),
			denied: []string{"tls-config"},
		},
		"passthrough_with_secret_denied": {
			stored:  []client.Object{svcRoot, own},
			obj:     fx.Proxy("roots", "app").FQDN("app.example.com").TLS("own").TLSWith(func(t *contourv1.TLS) { t.Passthrough = true }).Route("web", 80).Obj(),
			denied:  []string{"tls-config"},
			message: "Spec.VirtualHost.TLS: both Passthrough and SecretName were specified",
		},
		"tls_without_secret_or_passthrough_denied": {
			stored: []client.Object{svcRoot},
			obj:    fx.Proxy("roots", "app").FQDN("app.example.com").TLSWith(func(t *contourv1.TLS) {}).Route("web", 80).Obj(),
			denied: []string{"tls-config"},
		},
		"passthrough_with_client_validation_denied": {
			stored: []client.Object{svcRoot},
			obj: fx.Proxy("roots", "app").FQDN("app.example.com").TLSWith(func(t *contourv1.TLS) {
				t.Passthrough = true
				t.ClientValidation = &contourv1.DownstreamValidation{SkipClientCertValidation: true}
			}).TCPProxy(contourv1.TCPProxy{Services: []contourv1.Service{{Name: "web", Port: 80}}}).Obj(),
			denied:  []string{"tls-config"},
			message: "passthrough cannot be combined with tls.clientValidation",
		},
		"minimum_tls_above_maximum_denied": {
			stored: []client.Object{svcRoot, own},
			obj: fx.Proxy("roots", "app").FQDN("app.example.com").TLS("own").TLSWith(func(t *contourv1.TLS) {
				t.MinimumProtocolVersion, t.MaximumProtocolVersion = "1.3", "1.2"
			}).Route("web", 80).Obj(),
			denied:  []string{"tls-config"},
			message: "the minimum protocol version is greater than the maximum protocol version",
		},
		"fallback_with_client_validation_denied": {
			settings: policy.Settings{FallbackCertificate: &policy.Key{Namespace: "roots", Name: "own"}},
			stored:   []client.Object{svcRoot, own},
			obj: fx.Proxy("roots", "app").FQDN("app.example.com").TLS("own").TLSWith(func(t *contourv1.TLS) {
				t.EnableFallbackCertificate = true
				t.ClientValidation = &contourv1.DownstreamValidation{CACertificate: "own"}
			}).Route("web", 80).Obj(),
			denied:  []string{"tls-config"},
			message: "Spec.Virtualhost.TLS fallback & client validation are incompatible",
		},
		"client_validation_without_ca_denied": {
			stored: []client.Object{svcRoot, own},
			obj: fx.Proxy("roots", "app").FQDN("app.example.com").TLS("own").TLSWith(func(t *contourv1.TLS) {
				t.ClientValidation = &contourv1.DownstreamValidation{}
			}).Route("web", 80).Obj(),
			denied:  []string{"tls-config"},
			message: "client validation is invalid: CA Secret must be specified",
		},
	})
}

func TestDecide_permitInsecure(t *testing.T) {
	insecure := fx.Proxy("roots", "app").FQDN("app.example.com").RouteWith(func(r *contourv1.Route) {
		r.Services = []contourv1.Service{{Name: "web", Port: 80}}
		r.PermitInsecure = true
	}).Obj()
	runDecide(t, map[string]decideCase{
		"permit_insecure_allowed_by_default": {
			stored: []client.Object{svcRoot},
			obj:    insecure,
		},
		"permit_insecure_denied_when_disabled": {
			settings: policy.Settings{DisablePermitInsecure: true},
			stored:   []client.Object{svcRoot},
			obj:      insecure,
			denied:   []string{"permit-insecure"},
			message:  "spec.routes[0].permitInsecure is true, but permitInsecure is disabled in this cluster",
		},
	})
}

func TestDecide_routesAndTCPProxy(t *testing.T) {
	runDecide(t, map[string]decideCase{
		"missing_service_warns": {
			obj:     fx.Proxy("roots", "app").FQDN("app.example.com").Route("web", 80).Obj(),
			warned:  []string{"service-not-found"},
			message: `Spec.Routes unresolved service reference: service "roots/web" not found`,
		},
		"missing_service_port_warns": {
			stored:  []client.Object{svcRoot},
			obj:     fx.Proxy("roots", "app").FQDN("app.example.com").Route("web", 8080).Obj(),
			warned:  []string{"service-not-found"},
			message: `port "8080" on service "roots/web" not matched`,
		},
		"route_prefix_without_slash_denied": {
			stored:  []client.Object{svcRoot},
			obj:     fx.Proxy("roots", "app").FQDN("app.example.com").Route("web", 80, fx.Prefix("api")).Obj(),
			denied:  []string{"route-conditions"},
			message: "route: prefix conditions must start with /, api was supplied",
		},
		"route_invalid_regex_denied": {
			stored:  []client.Object{svcRoot},
			obj:     fx.Proxy("roots", "app").FQDN("app.example.com").Route("web", 80, fx.Regex("/(")).Obj(),
			denied:  []string{"route-conditions"},
			message: "route: supplied regex: /( invalid",
		},
		"route_without_action_denied": {
			obj:    fx.Proxy("roots", "app").FQDN("app.example.com").RouteWith(func(r *contourv1.Route) {}).Obj(),
			denied: []string{"route-action"},
		},
		"route_with_two_mirrors_denied": {
			stored: []client.Object{svcRoot},
			obj: fx.Proxy("roots", "app").FQDN("app.example.com").RouteWith(func(r *contourv1.Route) {
				r.Services = []contourv1.Service{{Name: "web", Port: 80}, {Name: "web", Port: 80, Mirror: true}, {Name: "web", Port: 80, Mirror: true}}
			}).Obj(),
			denied: []string{"one-mirror"},
		},
		"tcpproxy_needs_tls": {
			stored:  []client.Object{svcRoot},
			obj:     fx.Proxy("roots", "app").FQDN("app.example.com").TCPProxy(contourv1.TCPProxy{Services: []contourv1.Service{{Name: "web", Port: 80}}}).Obj(),
			denied:  []string{"tcpproxy"},
			message: "Spec.TCPProxy requires that either Spec.TLS.Passthrough or Spec.TLS.SecretName be set",
		},
		"tcpproxy_services_and_include_denied": {
			stored: []client.Object{svcRoot, fx.Proxy("roots", "tcp").Created(1).TCPProxy(contourv1.TCPProxy{Services: []contourv1.Service{{Name: "web", Port: 80}}}).Obj()},
			obj: fx.Proxy("roots", "app").FQDN("app.example.com").TLSWith(func(t *contourv1.TLS) { t.Passthrough = true }).
				TCPProxy(contourv1.TCPProxy{Services: []contourv1.Service{{Name: "web", Port: 80}}, Include: &contourv1.TCPProxyInclude{Name: "tcp"}}).Obj(),
			denied: []string{"tcpproxy"},
		},
		"tcpproxy_include_not_found_warns": {
			obj: fx.Proxy("roots", "app").FQDN("app.example.com").TLSWith(func(t *contourv1.TLS) { t.Passthrough = true }).
				TCPProxy(contourv1.TCPProxy{Include: &contourv1.TCPProxyInclude{Name: "tcp"}}).Obj(),
			warned: []string{"include-not-found"},
		},
		"tcpproxy_include_of_root_denied": {
			stored: []client.Object{svcRoot, fx.Proxy("roots", "other").Created(1).FQDN("o.example.com").Route("web", 80).Obj()},
			obj: fx.Proxy("roots", "app").FQDN("app.example.com").TLSWith(func(t *contourv1.TLS) { t.Passthrough = true }).
				TCPProxy(contourv1.TCPProxy{Include: &contourv1.TCPProxyInclude{Name: "other"}}).Obj(),
			denied: []string{"root-includes-root"},
		},
	})
}
