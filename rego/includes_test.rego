package warden.builtin.includes_test

import data.warden.builtin.includes

# proxy_input is a non-root HTTPProxy team-a/app with no include problems; overrides are
# merged in.
proxy_input(overrides) := object.union(
	{
		"operation": "CREATE",
		"kind": "HTTPProxy",
		"object": {
			"metadata": {"namespace": "team-a", "name": "app"},
			"spec": {"includes": [{"name": "child"}]},
		},
		"namespace": {"name": "team-a", "exists": true, "labels": {}},
		"config": {"rootNamespaces": [], "disablePermitInsecure": false, "fallbackCertificate": null},
		"facts": {
			"root": false,
			"fqdn": "",
			"rootNamespaceAllowed": true,
			"includes": [include({})],
			"includedBy": [],
			"cycles": [],
		},
	},
	overrides,
)

# include is input.facts.includes[_] for an include of team-a/child that resolves.
include(overrides) := object.union(
	{
		"index": 0,
		"target": "team-a/child",
		"namespace": "team-a",
		"name": "child",
		"tcp": false,
		"found": true,
		"targetIsRoot": false,
		"conditionErrors": [],
		"duplicateOf": -1,
	},
	overrides,
)

with_includes(incs, overrides) := proxy_input(object.union({"facts": {"includes": incs}}, overrides))

# root_input is team-a/app as a root that team-a/parent includes.
root_input(overrides) := proxy_input(object.union(
	{
		"object": {"spec": {"virtualhost": {"fqdn": "app.example.com"}}},
		"facts": {"root": true, "fqdn": "app.example.com", "includedBy": ["team-a/parent", "team-b/other"]},
	},
	overrides,
))

fields(v) := object.filter(v, {"rule", "type", "reason", "message", "status"})

test_valid_includes_allowed if {
	inp := proxy_input({})
	count(includes.deny) == 0 with input as inp
	count(includes.warn) == 0 with input as inp
	count(includes.deny) == 0 with input as root_input({"kind": "TLSCertificateDelegation"})
}

# include-cycle

test_include_cycle_denied if {
	inp := proxy_input({"facts": {"cycles": [["team-a/app", "team-a/child", "team-a/app"]]}})
	deny := includes.deny with input as inp
	count(deny) == 1
	some v in deny
	fields(v) == {
		"rule": "include-cycle",
		"type": "IncludeError",
		"reason": "IncludeCreatesCycle",
		"message": "include creates an include cycle: team-a/app -> team-a/child -> team-a/app",
	}
	v.fix == "includes must form a tree; remove the include of team-a/app from team-a/child"
}

test_self_include_cycle_denied if {
	inp := proxy_input({"facts": {"cycles": [["team-a/app", "team-a/app"]]}})
	deny := includes.deny with input as inp
	count(deny) == 1
	some v in deny
	v.message == "include creates an include cycle: team-a/app -> team-a/app"
	v.fix == "includes must form a tree; remove the include of team-a/app from team-a/app"
}

test_each_include_cycle_denied if {
	inp := proxy_input({"facts": {"cycles": [
		["team-a/app", "team-a/child", "team-a/app"],
		["team-a/app", "team-a/other", "team-a/app"],
	]}})
	count(includes.deny) == 2 with input as inp
}

test_include_cycle_denied_on_audit if {
	inp := proxy_input({"operation": "AUDIT", "facts": {"cycles": [["team-a/app", "team-a/child", "team-a/app"]]}})
	{v.rule | some v in includes.deny with input as inp} == {"include-cycle"}
}

test_include_cycle_not_denied_on_delete if {
	inp := proxy_input({"operation": "DELETE", "facts": {"cycles": [["team-a/app", "team-a/child", "team-a/app"]]}})
	count(includes.deny) == 0 with input as inp
}

# root-includes-root: including a root

test_including_root_denied if {
	inp := with_includes([include({"target": "team-b/site", "namespace": "team-b", "name": "site", "targetIsRoot": true})], {})
	deny := includes.deny with input as inp
	count(deny) == 1
	some v in deny
	fields(v) == {
		"rule": "root-includes-root",
		"type": "IncludeError",
		"reason": "RootIncludesRoot",
		"message": "root httpproxy cannot include another root httpproxy (team-b/site)",
	}
	contains(v.fix, "team-b/site has a virtualhost of its own")
}

test_tcpproxy_including_root_denied_as_tcpproxy_include_error if {
	inp := with_includes([include({"tcp": true, "targetIsRoot": true})], {})
	deny := includes.deny with input as inp
	count(deny) == 1
	some v in deny
	fields(v) == {
		"rule": "root-includes-root",
		"type": "TCPProxyIncludeError",
		"reason": "RootIncludesRoot",
		"message": "root httpproxy cannot include another root httpproxy (team-a/child)",
	}
}

test_including_root_not_denied_on_delete if {
	inp := with_includes([include({"targetIsRoot": true})], {"operation": "DELETE"})
	count(includes.deny) == 0 with input as inp
}

# root-includes-root: becoming a root while included

test_included_proxy_becoming_root_denied_on_create_and_update if {
	every op in ["CREATE", "UPDATE"] {
		deny := includes.deny with input as root_input({"operation": op})
		count(deny) == 1
		some v in deny
		fields(v) == {
			"rule": "root-includes-root",
			"type": "IncludeError",
			"reason": "RootIncludesRoot",
			"message": "team-a/app is included by team-a/parent, team-b/other, so it cannot become a root httpproxy",
		}
	}
}

test_included_root_not_denied_on_audit if {
	count(includes.deny) == 0 with input as root_input({"operation": "AUDIT"})
}

test_included_root_not_denied_on_delete if {
	count(includes.deny) == 0 with input as root_input({"operation": "DELETE"})
}

test_root_not_included_allowed if {
	count(includes.deny) == 0 with input as root_input({"facts": {"includedBy": []}})
}

test_root_including_only_itself_is_not_reported_as_included if {
	count(includes.deny) == 0 with input as root_input({"facts": {"includedBy": ["team-a/app"]}})
}

test_included_non_root_allowed if {
	count(includes.deny) == 0 with input as proxy_input({"facts": {"includedBy": ["team-a/parent"]}})
}

# include-conditions

test_include_path_condition_error_denied_as_include_error if {
	inp := with_includes(
		[
			include({}),
			include({"index": 1, "conditionErrors": [{"reason": "PathMatchConditionsNotValid", "message": "prefix conditions must start with /, foo was supplied"}]}),
		],
		{},
	)
	deny := includes.deny with input as inp
	count(deny) == 1
	some v in deny
	fields(v) == {
		"rule": "include-conditions",
		"type": "IncludeError",
		"reason": "PathMatchConditionsNotValid",
		"message": "prefix conditions must start with /, foo was supplied",
	}
	startswith(v.fix, "fix spec.includes[1].conditions: ")
}

test_include_header_condition_error_denied_as_route_error if {
	inp := with_includes(
		[include({"conditionErrors": [
			{"reason": "HeaderMatchConditionsNotValid", "message": "cannot specify duplicate header 'exact match' conditions in the same route"},
			{"reason": "QueryParameterMatchConditionsNotValid", "message": "cannot specify duplicate query parameter 'exact match' conditions in the same route"},
		]})],
		{},
	)
	{fields(v) | some v in includes.deny with input as inp} == {
		{
			"rule": "include-conditions",
			"type": "RouteError",
			"reason": "HeaderMatchConditionsNotValid",
			"message": "cannot specify duplicate header 'exact match' conditions in the same route",
		},
		{
			"rule": "include-conditions",
			"type": "RouteError",
			"reason": "QueryParameterMatchConditionsNotValid",
			"message": "cannot specify duplicate query parameter 'exact match' conditions in the same route",
		},
	}
}

test_include_condition_error_not_denied_on_delete if {
	inp := with_includes(
		[include({"conditionErrors": [{"reason": "PathMatchConditionsNotValid", "message": "m"}]})],
		{"operation": "DELETE"},
	)
	count(includes.deny) == 0 with input as inp
}

# duplicate-include-conditions

test_duplicate_include_conditions_denied if {
	inp := with_includes([include({}), include({"index": 1, "target": "team-a/other", "name": "other", "duplicateOf": 0})], {})
	deny := includes.deny with input as inp
	count(deny) == 1
	some v in deny
	fields(v) == {
		"rule": "duplicate-include-conditions",
		"type": "IncludeError",
		"reason": "DuplicateMatchConditions",
		"message": "duplicate conditions defined on an include",
	}
	v.fix == "spec.includes[1] (team-a/other) has the same conditions as spec.includes[0]; give each include distinct conditions"
}

test_distinct_include_conditions_allowed if {
	inp := with_includes([include({}), include({"index": 1, "target": "team-a/other", "name": "other"})], {})
	count(includes.deny) == 0 with input as inp
}

test_duplicate_include_conditions_not_denied_on_delete if {
	inp := with_includes([include({}), include({"index": 1, "duplicateOf": 0})], {"operation": "DELETE"})
	count(includes.deny) == 0 with input as inp
}

# include-not-found

test_include_not_found_warned_not_denied if {
	inp := with_includes([include({"found": false})], {})
	count(includes.deny) == 0 with input as inp
	warn := includes.warn with input as inp
	count(warn) == 1
	some v in warn
	fields(v) == {
		"rule": "include-not-found",
		"type": "IncludeError",
		"reason": "IncludeNotFound",
		"message": "include team-a/child not found",
		"status": "error",
	}
	contains(v.fix, "create HTTPProxy team-a/child")
}

test_tcpproxy_include_not_found_warned_as_tcpproxy_include_error if {
	inp := with_includes([include({"tcp": true, "found": false})], {})
	{[v.type, v.reason] | some v in includes.warn with input as inp} == {["TCPProxyIncludeError", "IncludeNotFound"]}
}

test_include_not_found_warned_on_audit if {
	inp := with_includes([include({"found": false})], {"operation": "AUDIT"})
	{v.rule | some v in includes.warn with input as inp} == {"include-not-found"}
}

test_include_not_found_not_warned_on_delete if {
	inp := with_includes([include({"found": false})], {"operation": "DELETE"})
	count(includes.warn) == 0 with input as inp
}

test_include_rules_ignore_other_kinds if {
	inp := with_includes(
		[include({"found": false, "targetIsRoot": true, "duplicateOf": 0})],
		{"kind": "TLSCertificateDelegation", "facts": {"cycles": [["team-a/app", "team-a/app"]]}},
	)
	count(includes.deny) == 0 with input as inp
	count(includes.warn) == 0 with input as inp
	count(includes.deny) == 0 with input as root_input({"kind": "TLSCertificateDelegation"})
}
