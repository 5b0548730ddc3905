package warden.builtin.fqdn_test

import data.warden.builtin.fqdn

# proxy_input is a root HTTPProxy team-a/app for app.example.com that owns its fqdn;
# overrides are merged in.
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
		"config": {"rootNamespaces": [], "disablePermitInsecure": false, "fallbackCertificate": null},
		"facts": {
			"root": true,
			"fqdn": "app.example.com",
			"rootNamespaceAllowed": true,
			"fqdnOwner": "team-a/app",
			"fqdnClaimants": ["team-a/app"],
		},
	},
	overrides,
)

# duplicate_input is team-a/app claiming an fqdn that team-b/first claimed earlier.
duplicate_input(overrides) := proxy_input(object.union(
	{"facts": {"fqdnOwner": "team-b/first", "fqdnClaimants": ["team-b/first", "team-a/app"]}},
	overrides,
))

fields(v) := object.filter(v, {"rule", "type", "reason", "message", "status"})

test_root_with_fqdn_allowed if {
	count(fqdn.deny) == 0 with input as proxy_input({})
}

test_root_without_fqdn_denied if {
	inp := json.remove(proxy_input({"facts": {"fqdn": "", "fqdnOwner": null, "fqdnClaimants": []}}), ["object/spec/virtualhost/fqdn"])
	deny := fqdn.deny with input as inp
	count(deny) == 1
	some v in deny
	fields(v) == {
		"rule": "fqdn-required",
		"type": "VirtualHostError",
		"reason": "FQDNNotSpecified",
		"message": "Spec.VirtualHost.Fqdn must be specified",
	}
}

test_root_with_empty_fqdn_denied if {
	inp := proxy_input({
		"object": {"spec": {"virtualhost": {"fqdn": ""}}},
		"facts": {"fqdn": "", "fqdnOwner": null, "fqdnClaimants": []},
	})
	{v.rule | some v in fqdn.deny with input as inp} == {"fqdn-required"}
}

test_root_without_fqdn_denied_on_audit if {
	inp := proxy_input({
		"operation": "AUDIT",
		"object": {"spec": {"virtualhost": {"fqdn": ""}}},
		"facts": {"fqdn": "", "fqdnOwner": null, "fqdnClaimants": []},
	})
	{v.rule | some v in fqdn.deny with input as inp} == {"fqdn-required"}
}

test_root_without_fqdn_not_denied_on_delete if {
	inp := proxy_input({
		"operation": "DELETE",
		"object": {"spec": {"virtualhost": {"fqdn": ""}}},
		"facts": {"fqdn": "", "fqdnOwner": null, "fqdnClaimants": []},
	})
	count(fqdn.deny) == 0 with input as inp
}

test_non_root_needs_no_fqdn if {
	inp := json.remove(
		proxy_input({"facts": {"root": false, "fqdn": "", "fqdnOwner": null, "fqdnClaimants": []}}),
		["object/spec/virtualhost"],
	)
	count(fqdn.deny) == 0 with input as inp
}

test_later_duplicate_fqdn_denied if {
	deny := fqdn.deny with input as duplicate_input({})
	count(deny) == 1
	some v in deny
	fields(v) == {
		"rule": "duplicate-fqdn",
		"type": "VirtualHostError",
		"reason": "DuplicateVhost",
		"message": `fqdn "app.example.com" is used in multiple HTTPProxies: team-a/app, team-b/first`,
	}
	v.fix == `team-b/first claimed "app.example.com" first; choose another fqdn, or ask the owners of team-b/first to include your HTTPProxy`
}

test_later_duplicate_fqdn_denied_on_update_and_audit if {
	every op in ["UPDATE", "AUDIT"] {
		{v.rule | some v in fqdn.deny} == {"duplicate-fqdn"} with input as duplicate_input({"operation": op})
	}
}

test_fqdn_owner_allowed if {
	inp := proxy_input({"facts": {"fqdnClaimants": ["team-a/app", "team-b/later"]}})
	count(fqdn.deny) == 0 with input as inp
}

test_unowned_fqdn_allowed if {
	count(fqdn.deny) == 0 with input as proxy_input({"facts": {"fqdnOwner": null, "fqdnClaimants": []}})
}

# A root outside the root namespaces never takes part in fqdn ownership (the root-namespace
# rule denies it instead).
test_duplicate_fqdn_not_reported_outside_root_namespaces if {
	count(fqdn.deny) == 0 with input as duplicate_input({"facts": {"rootNamespaceAllowed": false}})
}

test_duplicate_fqdn_not_denied_on_delete if {
	count(fqdn.deny) == 0 with input as duplicate_input({"operation": "DELETE"})
}
