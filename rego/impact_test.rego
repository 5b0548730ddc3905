package warden.builtin.impact_test

import data.warden.builtin.impact

# delete_input is the deletion of HTTPProxy team-a/app, which team-a/parent includes and
# team-a/leaf depends on; overrides are merged in.
delete_input(overrides) := object.union(
	{
		"operation": "DELETE",
		"kind": "HTTPProxy",
		"object": {
			"metadata": {"namespace": "team-a", "name": "app"},
			"spec": {"includes": [{"name": "leaf"}]},
		},
		"namespace": {"name": "team-a", "exists": true, "labels": {}},
		"config": {"rootNamespaces": [], "disablePermitInsecure": false, "fallbackCertificate": null},
		"facts": {"root": false, "fqdn": "", "rootNamespaceAllowed": true},
		"impact": {"affected": [
			{"proxy": "team-a/parent", "effect": "includeNotFound", "fqdns": ["a.example.com", "b.example.com"], "secret": null},
			{"proxy": "team-a/leaf", "effect": "orphaned", "fqdns": ["a.example.com"], "secret": null},
		]},
	},
	overrides,
)

# delegation_input is an update of TLSCertificateDelegation certs/wildcard that takes the
# secret away from team-b/site.
delegation_input(overrides) := object.union(
	{
		"operation": "UPDATE",
		"kind": "TLSCertificateDelegation",
		"object": {
			"metadata": {"namespace": "certs", "name": "wildcard"},
			"spec": {"delegations": [{"secretName": "wildcard", "targetNamespaces": ["team-a"]}]},
		},
		"oldObject": {
			"metadata": {"namespace": "certs", "name": "wildcard"},
			"spec": {"delegations": [{"secretName": "wildcard", "targetNamespaces": ["team-a", "team-b"]}]},
		},
		"namespace": {"name": "certs", "exists": true, "labels": {}},
		"config": {"rootNamespaces": [], "disablePermitInsecure": false, "fallbackCertificate": null},
		"facts": {"grants": []},
		"impact": {"affected": [{"proxy": "team-b/site", "effect": "delegationLost", "fqdns": ["site.example.com"], "secret": "certs/wildcard"}]},
	},
	overrides,
)

impact_warning(message) := {
	"rule": "impact",
	"message": message,
	"fix": "update the dependent objects first if this is not intended",
	"type": "",
	"reason": "",
}

test_proxy_delete_impact_warned if {
	inp := delete_input({})
	not impact.deny with input as inp
	impact.warn == {
		impact_warning("team-a/parent includes it and will answer 502 for that include (serving a.example.com, b.example.com)"),
		impact_warning("team-a/leaf will no longer be reachable from a root (it serves a.example.com)"),
	} with input as inp
}

test_proxy_update_impact_warned if {
	inp := delete_input({"operation": "UPDATE"})
	count(impact.warn) == 2 with input as inp
}

test_delegation_narrowing_impact_warned if {
	impact.warn == {impact_warning("team-b/site will lose the use of its TLS secret and stop being served (site.example.com)")} with input as delegation_input({})
}

test_delegation_delete_impact_warned if {
	count(impact.warn) == 1 with input as delegation_input({"operation": "DELETE"})
}

test_no_impact_warning_on_create_or_audit if {
	every op in ["CREATE", "AUDIT"] {
		count(impact.warn) == 0 with input as delete_input({"operation": op})
		count(impact.warn) == 0 with input as delegation_input({"operation": op})
	}
}

test_no_impact_warning_for_other_kinds if {
	count(impact.warn) == 0 with input as delete_input({"kind": "DelegationPolicy"})
}

test_nothing_affected_not_warned if {
	count(impact.warn) == 0 with input as delete_input({"impact": {"affected": []}})
}

test_missing_impact_not_warned if {
	count(impact.warn) == 0 with input as json.remove(delete_input({}), ["impact"])
}

test_unknown_effect_not_warned if {
	inp := delete_input({"impact": {"affected": [{"proxy": "team-a/x", "effect": "somethingElse", "fqdns": [], "secret": null}]}})
	count(impact.warn) == 0 with input as inp
}
