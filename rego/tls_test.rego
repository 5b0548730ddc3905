package warden.builtin.tls_test

import data.warden.builtin.tls

# proxy_input is a root HTTPProxy team-a/app terminating TLS with Secret team-a/cert;
# overrides are merged in.
proxy_input(overrides) := object.union(
	{
		"operation": "CREATE",
		"kind": "HTTPProxy",
		"object": {
			"metadata": {"namespace": "team-a", "name": "app"},
			"spec": {
				"virtualhost": {"fqdn": "app.example.com", "tls": {"secretName": "cert"}},
				"routes": [{"services": [{"name": "web", "port": 80}]}],
			},
		},
		"namespace": {"name": "team-a", "exists": true, "labels": {}},
		"config": {"rootNamespaces": [], "disablePermitInsecure": false, "fallbackCertificate": null},
		"facts": {
			"root": true,
			"fqdn": "app.example.com",
			"rootNamespaceAllowed": true,
			"secrets": [secret({"crossNamespace": false, "ref": "cert", "secret": "team-a/cert", "namespace": "team-a", "name": "cert"})],
		},
	},
	overrides,
)

# with_tls replaces spec.virtualhost.tls (and merges overrides into the input).
with_tls(t, overrides) := object.union(
	json.patch(proxy_input({}), [{"op": "replace", "path": "/object/spec/virtualhost/tls", "value": t}]),
	overrides,
)

# with_vhost replaces spec.virtualhost.
with_vhost(vhost, overrides) := object.union(
	json.patch(proxy_input({}), [{"op": "replace", "path": "/object/spec/virtualhost", "value": vhost}]),
	overrides,
)

with_secrets(secrets, overrides) := proxy_input(object.union({"facts": {"secrets": secrets}}, overrides))

# secret is input.facts.secrets[_] for the vhost Secret certs/wildcard, delegated and present.
secret(overrides) := object.union(
	{
		"use": "vhost",
		"field": "spec.virtualhost.tls.secretName",
		"ref": "certs/wildcard",
		"secret": "certs/wildcard",
		"namespace": "certs",
		"name": "wildcard",
		"crossNamespace": true,
		"delegated": true,
		"exists": true,
	},
	overrides,
)

fallback_configured := {"config": {"fallbackCertificate": "projectcontour/fallback"}}

fields(v) := object.filter(v, {"rule", "type", "reason", "message", "status"})

tls_config(message, reason) := {"rule": "tls-config", "type": "TLSError", "reason": reason, "message": message}

# the_deny is the only deny violation for inp.
the_deny(inp) := v if {
	deny := tls.deny with input as inp
	count(deny) == 1
	some v in deny
}

test_valid_tls_allowed[name] if {
	some name, t in {
		"secretName": {"secretName": "cert"},
		"passthrough": {"passthrough": true},
		"passthrough false with secretName": {"passthrough": false, "secretName": "cert"},
		"client validation with CA": {"secretName": "cert", "clientValidation": {"caSecret": "ca"}},
		"client validation skipped": {"secretName": "cert", "clientValidation": {"skipClientCertValidation": true}},
		"protocol versions in order": {"secretName": "cert", "minimumProtocolVersion": "1.2", "maximumProtocolVersion": "1.3"},
		"equal protocol versions": {"secretName": "cert", "minimumProtocolVersion": "1.3", "maximumProtocolVersion": "1.3"},
		"minimum 1.3, default maximum": {"secretName": "cert", "minimumProtocolVersion": "1.3"},
		"default minimum, maximum 1.2": {"secretName": "cert", "maximumProtocolVersion": "1.2"},
		"unknown minimum falls back to 1.2": {"secretName": "cert", "minimumProtocolVersion": "1.1", "maximumProtocolVersion": "1.2"},
		"unknown maximum falls back to 1.3": {"secretName": "cert", "minimumProtocolVersion": "1.3", "maximumProtocolVersion": "1.4"},
	}
	inp := with_tls(t, {})
	count(tls.deny) == 0 with input as inp
	count(tls.warn) == 0 with input as inp
}

test_no_tls_allowed if {
	count(tls.deny) == 0 with input as with_vhost({"fqdn": "app.example.com"}, {"facts": {"secrets": []}})
}

test_non_root_allowed if {
	inp := json.remove(proxy_input({"facts": {"root": false, "fqdn": "", "secrets": []}}), ["object/spec/virtualhost"])
	count(tls.deny) == 0 with input as inp
}

# tls-config

test_passthrough_and_secret_name_denied if {
	v := the_deny(with_tls({"passthrough": true, "secretName": "cert"}, {}))
	fields(v) == tls_config("Spec.VirtualHost.TLS: both Passthrough and SecretName were specified", "TLSConfigNotValid")
}

test_neither_passthrough_nor_secret_name_denied[name] if {
	some name, t in {
		"empty tls": {},
		"passthrough false": {"passthrough": false},
		"empty secretName": {"secretName": ""},
	}
	v := the_deny(with_tls(t, {"facts": {"secrets": []}}))
	fields(v) == tls_config("Spec.VirtualHost.TLS: neither Passthrough nor SecretName were specified", "TLSConfigNotValid")
}

test_passthrough_with_client_validation_denied if {
	v := the_deny(with_tls({"passthrough": true, "clientValidation": {"caSecret": "ca"}}, {}))
	fields(v) == tls_config("Spec.VirtualHost.TLS passthrough cannot be combined with tls.clientValidation", "TLSIncompatibleFeatures")
}

test_passthrough_with_fallback_certificate_denied if {
	v := the_deny(with_tls({"passthrough": true, "enableFallbackCertificate": true}, fallback_configured))
	fields(v) == tls_config("Spec.VirtualHost.TLS: both Passthrough and enableFallbackCertificate were specified", "TLSIncompatibleFeatures")
}

test_minimum_above_maximum_protocol_version_denied if {
	v := the_deny(with_tls({"secretName": "cert", "minimumProtocolVersion": "1.3", "maximumProtocolVersion": "1.2"}, {}))
	fields(v) == tls_config(
		"Spec.Virtualhost.TLS the minimum protocol version is greater than the maximum protocol version",
		"TLSConfigNotValid",
	)
}

test_fallback_with_incompatible_feature_denied[feature] if {
	some feature, vhost in {
		"client validation": {"fqdn": "app.example.com", "tls": {"secretName": "cert", "enableFallbackCertificate": true, "clientValidation": {"caSecret": "ca"}}},
		"client authorization": {"fqdn": "app.example.com", "tls": {"secretName": "cert", "enableFallbackCertificate": true}, "authorization": {"extensionRef": {"name": "authz"}}},
		"JWT providers": {"fqdn": "app.example.com", "tls": {"secretName": "cert", "enableFallbackCertificate": true}, "jwtProviders": [{"name": "p"}]},
	}
	v := the_deny(with_vhost(vhost, fallback_configured))
	fields(v) == tls_config(sprintf("Spec.Virtualhost.TLS fallback & %s are incompatible", [feature]), "TLSIncompatibleFeatures")
}

test_fallback_with_empty_jwt_providers_allowed if {
	vhost := {"fqdn": "app.example.com", "tls": {"secretName": "cert", "enableFallbackCertificate": true}, "jwtProviders": []}
	count(tls.deny) == 0 with input as with_vhost(vhost, fallback_configured)
}

test_fallback_without_configured_certificate_denied if {
	v := the_deny(with_tls({"secretName": "cert", "enableFallbackCertificate": true}, {}))
	fields(v) == tls_config(
		"Spec.Virtualhost.TLS enabled fallback but the fallback Certificate Secret is not configured in the Warden configuration file",
		"FallbackNotPresent",
	)
}

test_fallback_with_configured_certificate_allowed if {
	count(tls.deny) == 0 with input as with_tls({"secretName": "cert", "enableFallbackCertificate": true}, fallback_configured)
}

test_fallback_disabled_allowed_without_configured_certificate if {
	count(tls.deny) == 0 with input as with_tls({"secretName": "cert", "enableFallbackCertificate": false}, {})
}

test_client_validation_without_ca_denied if {
	v := the_deny(with_tls({"secretName": "cert", "clientValidation": {"crlSecret": "crl"}}, {}))
	fields(v) == tls_config("Spec.VirtualHost.TLS client validation is invalid: CA Secret must be specified", "ClientValidationInvalid")
}

test_tls_config_denied_on_update_and_audit if {
	every op in ["UPDATE", "AUDIT"] {
		{v.reason | some v in tls.deny} == {"TLSConfigNotValid"} with input as with_tls({"passthrough": true, "secretName": "cert"}, {"operation": op})
	}
}

test_tls_config_not_denied_on_delete if {
	every t in [
		{"passthrough": true, "secretName": "cert"},
		{},
		{"passthrough": true, "clientValidation": {}, "enableFallbackCertificate": true},
		{"secretName": "cert", "minimumProtocolVersion": "1.3", "maximumProtocolVersion": "1.2"},
	] {
		count(tls.deny) == 0 with input as with_tls(t, {"operation": "DELETE", "facts": {"secrets": []}})
	}
}

# tls-delegation

# not_delegated are the expected [message, type, reason] per secret use for certs/wildcard.
not_delegated := {
	"vhost": [`Spec.VirtualHost.TLS Secret "certs/wildcard" certificate delegation not permitted`, "TLSError", "DelegationNotPermitted"],
	"fallback": [`Spec.VirtualHost.TLS Secret "certs/wildcard" is not configured for certificate delegation`, "TLSError", "FallbackNotDelegated"],
	"clientCA": [`Spec.VirtualHost.TLS CA Secret "certs/wildcard" is invalid: certificate delegation not permitted`, "TLSError", "DelegationNotPermitted"],
	"crl": [`Spec.VirtualHost.TLS CRL Secret "certs/wildcard" is invalid: certificate delegation not permitted`, "TLSError", "DelegationNotPermitted"],
	"upstreamCA": [`service.UpstreamValidation.CACertificate Secret "certs/wildcard" is not configured for certificate delegation`, "TLSError", "CACertificateNotDelegated"],
	"jwksCA": [`Spec.VirtualHost.JWTProviders RemoteJWKS.UpstreamValidation.CACertificate Secret "certs/wildcard" is not configured for certificate delegation`, "JWTVerificationError", "RemoteJWKSCACertificateNotDelegated"],
}

test_undelegated_secret_denied[use] if {
	some use, [message, type, reason] in not_delegated
	inp := with_secrets([secret({"use": use, "field": "the.field", "delegated": false})], {})
	v := the_deny(inp)
	fields(v) == {"rule": "tls-delegation", "type": type, "reason": reason, "message": message}
	v.fix == "the.field: ask the owners of namespace certs for a TLSCertificateDelegation of secret wildcard to namespace team-a, or use a secret in namespace team-a"
	count(tls.warn) == 0 with input as inp
}

test_undelegated_secret_denied_on_audit if {
	inp := with_secrets([secret({"delegated": false})], {"operation": "AUDIT"})
	{v.rule | some v in tls.deny with input as inp} == {"tls-delegation"}
}

test_undelegated_secret_not_denied_on_delete if {
	count(tls.deny) == 0 with input as with_secrets([secret({"delegated": false})], {"operation": "DELETE"})
}

test_delegated_secrets_allowed if {
	inp := with_secrets([secret({"use": use}) | some use, _ in not_delegated], {})
	count(tls.deny) == 0 with input as inp
	count(tls.warn) == 0 with input as inp
}

# secret-not-found

# not_found are the expected [message, type, reason] per secret use for certs/wildcard.
not_found := {
	"vhost": [`Spec.VirtualHost.TLS Secret "certs/wildcard" is invalid: Secret not found`, "TLSError", "SecretNotValid"],
	"fallback": [`Spec.Virtualhost.TLS Secret "certs/wildcard" fallback certificate is invalid: Secret not found`, "TLSError", "FallbackNotValid"],
	"clientCA": [`Spec.VirtualHost.TLS client validation is invalid: invalid CA Secret "certs/wildcard": Secret not found`, "TLSError", "ClientValidationInvalid"],
	"crl": [`Spec.VirtualHost.TLS client validation is invalid: invalid CRL Secret "certs/wildcard": Secret not found`, "TLSError", "ClientValidationInvalid"],
	"upstreamCA": [`service.UpstreamValidation.CACertificate Secret "certs/wildcard" is invalid: Secret not found`, "ServiceError", "TLSUpstreamValidation"],
	"jwksCA": [`Spec.VirtualHost.JWTProviders RemoteJWKS.UpstreamValidation.CACertificate Secret "certs/wildcard" is invalid: Secret not found`, "JWTVerificationError", "RemoteJWKSUpstreamValidationInvalid"],
}

test_missing_delegated_secret_warned_not_denied[use] if {
	some use, [message, type, reason] in not_found
	inp := with_secrets([secret({"use": use, "field": "the.field", "exists": false})], {})
	count(tls.deny) == 0 with input as inp
	warn := tls.warn with input as inp
	count(warn) == 1
	some v in warn
	fields(v) == {"rule": "secret-not-found", "type": type, "reason": reason, "message": message, "status": "error"}
	v.fix == "create Secret wildcard in namespace certs (the.field); until then this part of the proxy is not served"
}

test_missing_same_namespace_secret_warned if {
	inp := proxy_input({"facts": {"secrets": [secret({"ref": "cert", "secret": "team-a/cert", "namespace": "team-a", "name": "cert", "crossNamespace": false, "exists": false})]}})
	{v.message | some v in tls.warn with input as inp} == {`Spec.VirtualHost.TLS Secret "cert" is invalid: Secret not found`}
}

# An undelegated secret is denied whether or not it exists; its absence is not also warned.
test_missing_undelegated_secret_only_denied if {
	inp := with_secrets([secret({"delegated": false, "exists": false})], {})
	{v.rule | some v in tls.deny with input as inp} == {"tls-delegation"}
	count(tls.warn) == 0 with input as inp
}

test_missing_secret_warned_on_audit if {
	count(tls.warn) == 1 with input as with_secrets([secret({"exists": false})], {"operation": "AUDIT"})
}

test_missing_secret_not_warned_on_delete if {
	count(tls.warn) == 0 with input as with_secrets([secret({"exists": false})], {"operation": "DELETE"})
}

test_tls_rules_ignore_other_kinds if {
	inp := with_tls({"passthrough": true, "secretName": "cert"}, {
		"kind": "TLSCertificateDelegation",
		"facts": {"secrets": [secret({"delegated": false}), secret({"exists": false})]},
	})
	count(tls.deny) == 0 with input as inp
	count(tls.warn) == 0 with input as inp
}
