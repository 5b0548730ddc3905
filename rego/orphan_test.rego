package warden.builtin.orphan_test

import data.warden.builtin.orphan

# proxy_input is a non-root HTTPProxy team-a/app that no live root reaches; overrides are
# merged in.
proxy_input(overrides) := object.union(
	{
		"operation": "CREATE",
		"kind": "HTTPProxy",
		"object": {
			"metadata": {"namespace": "team-a", "name": "app"},
			"spec": {"routes": [{"services": [{"name": "web", "port": 80}]}]},
		},
		"namespace": {"name": "team-a", "exists": true, "labels": {}},
		"config": {"rootNamespaces": [], "disablePermitInsecure": false, "fallbackCertificate": null},
		"facts": {"root": false, "fqdn": "", "rootNamespaceAllowed": true, "reach": [], "reachTruncated": false, "orphaned": true},
	},
	overrides,
)

fields(v) := object.filter(v, {"rule", "type", "reason", "message", "status"})

test_orphan_warned_not_denied if {
	inp := proxy_input({})
	not orphan.deny with input as inp
	warn := orphan.warn with input as inp
	count(warn) == 1
	some v in warn
	fields(v) == {
		"rule": "orphaned",
		"type": "Orphaned",
		"reason": "Orphaned",
		"message": "this HTTPProxy is not part of a delegation chain from a root HTTPProxy",
		"status": "error",
	}
	v.fix == "have a root HTTPProxy include team-a/app; until then it serves no traffic"
}

test_orphan_warned_on_update_and_audit if {
	every op in ["UPDATE", "AUDIT"] {
		count(orphan.warn) == 1 with input as proxy_input({"operation": op})
	}
}

test_reached_proxy_not_warned if {
	inp := proxy_input({"facts": {
		"orphaned": false,
		"reach": [{"root": "projectcontour/root", "rootNamespace": "projectcontour", "fqdn": "example.com", "path": ["projectcontour/root", "team-a/app"], "conditions": []}],
	}})
	count(orphan.warn) == 0 with input as inp
}

test_orphan_not_warned_on_delete if {
	count(orphan.warn) == 0 with input as proxy_input({"operation": "DELETE"})
}
