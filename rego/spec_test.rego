package warden.builtin.spec_test

import data.warden.builtin.spec

# proxy_input is a root HTTPProxy team-a/app with the given spec; overrides are merged in.
proxy_input(proxy_spec, overrides) := object.union(
	{
		"operation": "CREATE",
		"kind": "HTTPProxy",
		"object": {
			"metadata": {"namespace": "team-a", "name": "app"},
			"spec": proxy_spec,
		},
		"namespace": {"name": "team-a", "exists": true, "labels": {}},
		"config": {"rootNamespaces": [], "disablePermitInsecure": false, "fallbackCertificate": null},
		"facts": {"root": true, "fqdn": "app.example.com", "rootNamespaceAllowed": true},
	},
	overrides,
)

vhost := {"fqdn": "app.example.com"}

fields(v) := object.filter(v, {"rule", "type", "reason", "message", "status"})

nothing_defined := {
	"rule": "nothing-defined",
	"type": "SpecError",
	"reason": "NothingDefined",
	"message": "HTTPProxy.Spec must have at least one Route, Include, or a TCPProxy",
}

test_root_with_nothing_defined_denied if {
	deny := spec.deny with input as proxy_input({"virtualhost": vhost}, {})
	count(deny) == 1
	some v in deny
	fields(v) == nothing_defined
}

test_root_with_empty_routes_and_includes_denied if {
	inp := proxy_input({"virtualhost": vhost, "routes": [], "includes": []}, {})
	{fields(v) | some v in spec.deny with input as inp} == {nothing_defined}
}

test_root_with_nothing_defined_denied_on_update_and_audit if {
	every op in ["UPDATE", "AUDIT"] {
		count(spec.deny) == 1 with input as proxy_input({"virtualhost": vhost}, {"operation": op})
	}
}

test_root_with_something_defined_allowed[name] if {
	some name, proxy_spec in {
		"routes": {"virtualhost": vhost, "routes": [{"services": [{"name": "web", "port": 80}]}]},
		"includes": {"virtualhost": vhost, "includes": [{"name": "child"}]},
		"tcpproxy": {"virtualhost": vhost, "tcpproxy": {"services": [{"name": "db", "port": 5432}]}},
	}
	count(spec.deny) == 0 with input as proxy_input(proxy_spec, {})
}

test_non_root_with_nothing_defined_allowed if {
	count(spec.deny) == 0 with input as proxy_input({}, {"facts": {"root": false, "fqdn": ""}})
}

test_root_with_nothing_defined_not_denied_on_delete if {
	count(spec.deny) == 0 with input as proxy_input({"virtualhost": vhost}, {"operation": "DELETE"})
}
