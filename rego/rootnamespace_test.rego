package warden.builtin.rootnamespace_test

import data.warden.builtin.rootnamespace

# proxy_input is a root HTTPProxy team-a/app in a cluster whose root namespaces are
# projectcontour and roots; overrides are merged in.
proxy_input(overrides) := object.union(
	{
		"operation": "CREATE",
		"kind": "HTTPProxy",
		"object": {
			"metadata": {"namespace": "team-a", "name": "app"},
			"spec": {
				"virtualhost": {"fqdn": "app.example.com"},
				"routes": [{"services": [{"name": "web", "port": 80}]}],
			},
		},
		"namespace": {"name": "team-a", "exists": true, "labels": {}},
		"config": {"rootNamespaces": ["projectcontour", "roots"], "disablePermitInsecure": false, "fallbackCertificate": null},
		"facts": {"root": true, "fqdn": "app.example.com", "rootNamespaceAllowed": false},
	},
	overrides,
)

fields(v) := object.filter(v, {"rule", "type", "reason", "message", "status"})

test_root_outside_root_namespaces_denied if {
	deny := rootnamespace.deny with input as proxy_input({})
	count(deny) == 1
	some v in deny
	fields(v) == {
		"rule": "root-namespace",
		"type": "RootNamespaceError",
		"reason": "RootProxyNotAllowedInNamespace",
		"message": "root HTTPProxy cannot be defined in this namespace",
	}
	v.fix == "root HTTPProxies may only live in namespaces projectcontour, roots; remove spec.virtualhost and ask a root there to include team-a/app"
}

test_root_outside_root_namespaces_denied_on_update_and_audit if {
	every op in ["UPDATE", "AUDIT"] {
		count(rootnamespace.deny) == 1 with input as proxy_input({"operation": op})
	}
}

test_root_in_root_namespace_allowed if {
	inp := proxy_input({
		"object": {"metadata": {"namespace": "roots"}},
		"namespace": {"name": "roots"},
		"facts": {"rootNamespaceAllowed": true},
	})
	count(rootnamespace.deny) == 0 with input as inp
}

test_non_root_outside_root_namespaces_allowed if {
	inp := json.remove(proxy_input({"facts": {"root": false, "fqdn": ""}}), ["object/spec/virtualhost"])
	count(rootnamespace.deny) == 0 with input as inp
}

test_root_outside_root_namespaces_not_denied_on_delete if {
	count(rootnamespace.deny) == 0 with input as proxy_input({"operation": "DELETE"})
}

test_root_namespace_ignores_other_kinds if {
	count(rootnamespace.deny) == 0 with input as proxy_input({"kind": "TLSCertificateDelegation"})
}
