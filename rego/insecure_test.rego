package warden.builtin.insecure_test

import data.warden.builtin.insecure

# proxy_input is HTTPProxy team-a/app whose routes 0 and 2 set permitInsecure, in a cluster
# that disables permitInsecure; overrides are merged in.
proxy_input(overrides) := object.union(
	{
		"operation": "CREATE",
		"kind": "HTTPProxy",
		"object": {
			"metadata": {"namespace": "team-a", "name": "app"},
			"spec": {
				"virtualhost": {"fqdn": "app.example.com", "tls": {"secretName": "cert"}},
				"routes": [
					{"permitInsecure": true, "services": [web]},
					{"services": [web]},
					{"permitInsecure": true, "services": [web]},
				],
			},
		},
		"namespace": {"name": "team-a", "exists": true, "labels": {}},
		"config": {"rootNamespaces": [], "disablePermitInsecure": true, "fallbackCertificate": null},
		"facts": {"root": true, "fqdn": "app.example.com", "rootNamespaceAllowed": true, "permitInsecureRoutes": [0, 2]},
	},
	overrides,
)

web := {"name": "web", "port": 80}

fields(v) := object.filter(v, {"rule", "type", "reason", "message", "status"})

test_permit_insecure_denied_on_create_and_update if {
	every op in ["CREATE", "UPDATE"] {
		inp := proxy_input({"operation": op})
		{fields(v) | some v in insecure.deny with input as inp} == {
			{
				"rule": "permit-insecure",
				"type": "SpecError",
				"reason": "PermitInsecureNotAllowed",
				"message": "spec.routes[0].permitInsecure is true, but permitInsecure is disabled in this cluster",
			},
			{
				"rule": "permit-insecure",
				"type": "SpecError",
				"reason": "PermitInsecureNotAllowed",
				"message": "spec.routes[2].permitInsecure is true, but permitInsecure is disabled in this cluster",
			},
		}
		count(insecure.warn) == 0 with input as inp
	}
}

# A stored object keeps working over HTTPS; status only says the field is ignored.
test_permit_insecure_only_warned_on_audit if {
	inp := proxy_input({"operation": "AUDIT"})
	count(insecure.deny) == 0 with input as inp
	{fields(v) | some v in insecure.warn with input as inp} == {
		{
			"rule": "permit-insecure",
			"type": "SpecError",
			"reason": "IgnoredField",
			"message": "spec.routes[0].permitInsecure is ignored: permitInsecure is disabled in this cluster (httpproxy.disablePermitInsecure)",
		},
		{
			"rule": "permit-insecure",
			"type": "SpecError",
			"reason": "IgnoredField",
			"message": "spec.routes[2].permitInsecure is ignored: permitInsecure is disabled in this cluster (httpproxy.disablePermitInsecure)",
		},
	}
}

test_permit_insecure_neither_denied_nor_warned_on_delete if {
	inp := proxy_input({"operation": "DELETE"})
	count(insecure.deny) == 0 with input as inp
	count(insecure.warn) == 0 with input as inp
}

test_permit_insecure_allowed_when_cluster_permits_it if {
	every op in ["CREATE", "UPDATE", "AUDIT"] {
		inp := proxy_input({"operation": op, "config": {"disablePermitInsecure": false}})
		count(insecure.deny) == 0 with input as inp
		count(insecure.warn) == 0 with input as inp
	}
}

test_routes_without_permit_insecure_allowed if {
	every op in ["CREATE", "AUDIT"] {
		inp := proxy_input({"operation": op, "facts": {"permitInsecureRoutes": []}})
		count(insecure.deny) == 0 with input as inp
		count(insecure.warn) == 0 with input as inp
	}
}
