# TLS on roots: consistent TLS settings (denied), and certificate delegation: a secret in
# another namespace may be used only when a TLSCertificateDelegation in that namespace grants
# it (denied). A delegated secret that does not exist yet is warned about.
package warden.builtin.tls

import data.warden.lib

tls := input.object.spec.virtualhost.tls

tls_deny(rule, message, fix, reason) := lib.violation(rule, message, fix, "TLSError", reason)

deny contains tls_deny(
	"tls-config",
	"Spec.VirtualHost.TLS: both Passthrough and SecretName were specified",
	"set either spec.virtualhost.tls.secretName (terminate TLS) or passthrough: true, not both",
	"TLSConfigNotValid",
) if {
	input.object.spec.virtualhost.tls.passthrough
	lib.proxy_write
	object.get(tls, "secretName", "") != ""
}

deny contains tls_deny(
	"tls-config",
	"Spec.VirtualHost.TLS: neither Passthrough nor SecretName were specified",
	"set spec.virtualhost.tls.secretName, or passthrough: true",
	"TLSConfigNotValid",
) if {
	input.object.spec.virtualhost.tls
	lib.proxy_write
	not tls.passthrough
	object.get(tls, "secretName", "") == ""
}

deny contains tls_deny(
	"tls-config",
	"Spec.VirtualHost.TLS passthrough cannot be combined with tls.clientValidation",
	"remove clientValidation: with passthrough, the backend terminates TLS",
	"TLSIncompatibleFeatures",
) if {
	input.object.spec.virtualhost.tls.passthrough
	lib.proxy_write
	tls.clientValidation
}

deny contains tls_deny(
	"tls-config",
	"Spec.VirtualHost.TLS: both Passthrough and enableFallbackCertificate were specified",
	"remove enableFallbackCertificate: it needs Envoy to terminate TLS",
	"TLSIncompatibleFeatures",
) if {
	input.object.spec.virtualhost.tls.passthrough
	lib.proxy_write
	tls.enableFallbackCertificate
}

deny contains tls_deny(
	"tls-config",
	"Spec.Virtualhost.TLS the minimum protocol version is greater than the maximum protocol version",
	"set minimumProtocolVersion to 1.2 or 1.3, not above maximumProtocolVersion",
	"TLSConfigNotValid",
) if {
	input.object.spec.virtualhost.tls.minimumProtocolVersion # the default minimum is never above a maximum
	lib.proxy_write
	version(object.get(tls, "minimumProtocolVersion", ""), "1.2") > version(object.get(tls, "maximumProtocolVersion", ""), "1.3")
}

# version maps a protocol version to a comparable number; other values fall back to the
# default, as in Contour.
version(v, dflt) := 2 if v == "1.2"

else := 3 if v == "1.3"

else := 2 if dflt == "1.2"

else := 3

deny contains tls_deny(
	"tls-config",
	sprintf("Spec.Virtualhost.TLS fallback & %s are incompatible", [feature]),
	sprintf("remove enableFallbackCertificate or %s", [field]),
	"TLSIncompatibleFeatures",
) if {
	input.object.spec.virtualhost.tls.enableFallbackCertificate
	lib.proxy_write
	some [feature, field] in [
		["client validation", "spec.virtualhost.tls.clientValidation"],
		["client authorization", "spec.virtualhost.authorization"],
		["JWT providers", "spec.virtualhost.jwtProviders"],
	]
	present(field)
}

present("spec.virtualhost.tls.clientValidation") if tls.clientValidation

present("spec.virtualhost.authorization") if input.object.spec.virtualhost.authorization

present("spec.virtualhost.jwtProviders") if count(object.get(input.object.spec.virtualhost, "jwtProviders", [])) > 0

deny contains tls_deny(
	"tls-config",
	"Spec.Virtualhost.TLS enabled fallback but the fallback Certificate Secret is not configured in the Warden configuration file",
	"remove enableFallbackCertificate, or ask the cluster admins to set httpproxy.fallbackCertificate in warden.yaml",
	"FallbackNotPresent",
) if {
	input.object.spec.virtualhost.tls.enableFallbackCertificate
	lib.proxy_write
	input.config.fallbackCertificate == null
}

deny contains tls_deny(
	"tls-config",
	"Spec.VirtualHost.TLS client validation is invalid: CA Secret must be specified",
	"set clientValidation.caSecret, or skipClientCertValidation: true",
	"ClientValidationInvalid",
) if {
	input.object.spec.virtualhost.tls.clientValidation
	lib.proxy_write
	cv := tls.clientValidation
	object.get(cv, "caSecret", "") == ""
	not cv.skipClientCertValidation
}

# Certificate delegation.

not_delegated := {
	"vhost": ["Spec.VirtualHost.TLS Secret %q certificate delegation not permitted", "TLSError", "DelegationNotPermitted"],
	"fallback": ["Spec.VirtualHost.TLS Secret %q is not configured for certificate delegation", "TLSError", "FallbackNotDelegated"],
	"clientCA": ["Spec.VirtualHost.TLS CA Secret %q is invalid: certificate delegation not permitted", "TLSError", "DelegationNotPermitted"],
	"crl": ["Spec.VirtualHost.TLS CRL Secret %q is invalid: certificate delegation not permitted", "TLSError", "DelegationNotPermitted"],
	"upstreamCA": ["service.UpstreamValidation.CACertificate Secret %q is not configured for certificate delegation", "TLSError", "CACertificateNotDelegated"],
	"jwksCA": ["Spec.VirtualHost.JWTProviders RemoteJWKS.UpstreamValidation.CACertificate Secret %q is not configured for certificate delegation", "JWTVerificationError", "RemoteJWKSCACertificateNotDelegated"],
}

deny contains v if {
	input.facts.secrets[0]
	lib.proxy_write
	some s in input.facts.secrets
	not s.delegated
	[format, type, reason] := not_delegated[s.use]
	v := lib.violation(
		"tls-delegation",
		sprintf(format, [s.ref]),
		sprintf(
			"%s: ask the owners of namespace %s for a TLSCertificateDelegation of secret %s to namespace %s, or use a secret in namespace %s",
			[s.field, s.namespace, s.name, input.object.metadata.namespace, input.object.metadata.namespace],
		),
		type, reason,
	)
}

not_found := {
	"vhost": ["Spec.VirtualHost.TLS Secret %q is invalid: Secret not found", "TLSError", "SecretNotValid"],
	"fallback": ["Spec.Virtualhost.TLS Secret %q fallback certificate is invalid: Secret not found", "TLSError", "FallbackNotValid"],
	"clientCA": ["Spec.VirtualHost.TLS client validation is invalid: invalid CA Secret %q: Secret not found", "TLSError", "ClientValidationInvalid"],
	"crl": ["Spec.VirtualHost.TLS client validation is invalid: invalid CRL Secret %q: Secret not found", "TLSError", "ClientValidationInvalid"],
	"upstreamCA": ["service.UpstreamValidation.CACertificate Secret %q is invalid: Secret not found", "ServiceError", "TLSUpstreamValidation"],
	"jwksCA": ["Spec.VirtualHost.JWTProviders RemoteJWKS.UpstreamValidation.CACertificate Secret %q is invalid: Secret not found", "JWTVerificationError", "RemoteJWKSUpstreamValidationInvalid"],
}

warn contains v if {
	input.facts.secrets[0]
	lib.proxy_write
	some s in input.facts.secrets
	s.delegated
	not s.exists
	[format, type, reason] := not_found[s.use]
	v := lib.status_error(lib.violation(
		"secret-not-found",
		sprintf(format, [s.ref]),
		sprintf("create Secret %s in namespace %s (%s); until then this part of the proxy is not served", [s.name, s.namespace, s.field]),
		type, reason,
	))
}
