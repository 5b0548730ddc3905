package warden.builtin.delegation_test

import data.warden.builtin.delegation

# delegation_input is a TLSCertificateDelegation certs/wildcard whose grants are all sound;
# overrides are merged in.
delegation_input(overrides) := object.union(
	{
		"operation": "CREATE",
		"kind": "TLSCertificateDelegation",
		"object": {
			"metadata": {"namespace": "certs", "name": "wildcard"},
			"spec": {"delegations": [{"secretName": "wildcard", "targetNamespaces": ["*"]}]},
		},
		"namespace": {"name": "certs", "exists": true, "labels": {}},
		"config": {"rootNamespaces": [], "disablePermitInsecure": false, "fallbackCertificate": null},
		"facts": {"grants": [grant({})]},
		"impact": {"affected": []},
	},
	overrides,
)

# grant is input.facts.grants[_] for Secret certs/wildcard delegated to every namespace.
grant(overrides) := object.union(
	{
		"secret": "certs/wildcard",
		"secretName": "wildcard",
		"targetNamespaces": ["*"],
		"wildcard": true,
		"mixedWildcard": false,
		"secretExists": true,
	},
	overrides,
)

with_grants(grants, overrides) := delegation_input(object.union({"facts": {"grants": grants}}, overrides))

mixed := grant({"targetNamespaces": ["team-a", "*"], "wildcard": false, "mixedWildcard": true})

missing := grant({"secret": "certs/gone", "secretName": "gone", "secretExists": false})

test_sound_grants_allowed if {
	every op in ["CREATE", "UPDATE", "AUDIT"] {
		count(delegation.warn) == 0 with input as delegation_input({"operation": op})
	}
}

test_mixed_wildcard_warned if {
	inp := with_grants([mixed], {})
	not delegation.deny with input as inp
	delegation.warn == {{
		"rule": "delegation-wildcard",
		"message": `secret wildcard: "*" is a wildcard only when it is the only target namespace; ["team-a", "*"] grants only the namespaces literally named`,
		"fix": `use targetNamespaces: ["*"] to delegate to every namespace, or list the namespaces`,
		"type": "",
		"reason": "",
	}} with input as inp
}

test_listed_namespaces_not_warned if {
	inp := with_grants([grant({"targetNamespaces": ["team-a", "team-b"], "wildcard": false})], {})
	count(delegation.warn) == 0 with input as inp
}

test_missing_secret_warned if {
	delegation.warn == {{
		"rule": "delegation-secret-not-found",
		"message": "secret gone does not exist (yet) in namespace certs",
		"fix": "create the Secret, or correct secretName",
		"type": "",
		"reason": "",
	}} with input as with_grants([grant({}), missing], {})
}

test_each_grant_warned if {
	inp := with_grants([mixed, missing], {})
	{v.rule | some v in delegation.warn with input as inp} == {"delegation-wildcard", "delegation-secret-not-found"}
}

test_delegation_warned_on_update_and_audit if {
	every op in ["UPDATE", "AUDIT"] {
		count(delegation.warn) == 2 with input as with_grants([mixed, missing], {"operation": op})
	}
}

test_delegation_not_warned_on_delete if {
	count(delegation.warn) == 0 with input as with_grants([mixed, missing], {"operation": "DELETE"})
}

test_delegation_rules_ignore_httpproxies if {
	count(delegation.warn) == 0 with input as with_grants([mixed, missing], {"kind": "HTTPProxy"})
}
