package warden.builtin.routes_test

import data.warden.builtin.routes

# proxy_input is a non-root HTTPProxy team-a/app with one valid route to Service web:80;
# overrides are merged in (arrays are replaced, not merged).
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
		"facts": {
			"root": false,
			"fqdn": "",
			"rootNamespaceAllowed": true,
			"services": [service({})],
			"routeConditionErrors": [],
			"chainConflicts": [],
		},
	},
	overrides,
)

# service is input.facts.services[_] for Service team-a/web port 80 of route 0, resolved.
service(overrides) := object.union(
	{"route": 0, "service": "team-a/web", "name": "web", "port": 80, "found": true, "portFound": true},
	overrides,
)

with_routes(rs, overrides) := proxy_input(object.union({"object": {"spec": {"routes": rs}}}, overrides))

with_facts(facts, overrides) := proxy_input(object.union({"facts": facts}, overrides))

web := {"name": "web", "port": 80}

fields(v) := object.filter(v, {"rule", "type", "reason", "message", "status"})

test_valid_routes_allowed if {
	inp := proxy_input({})
	count(routes.deny) == 0 with input as inp
	count(routes.warn) == 0 with input as inp
}

# route-conditions

test_route_condition_error_denied if {
	inp := with_facts({"routeConditionErrors": [{"route": 2, "reason": "PathMatchConditionsNotValid", "message": "route: more than one prefix is not allowed in a condition block"}]}, {})
	deny := routes.deny with input as inp
	count(deny) == 1
	some v in deny
	fields(v) == {
		"rule": "route-conditions",
		"type": "RouteError",
		"reason": "PathMatchConditionsNotValid",
		"message": "route: more than one prefix is not allowed in a condition block",
	}
	v.fix == "fix spec.routes[2].conditions"
}

test_route_condition_error_not_denied_on_delete if {
	inp := with_facts({"routeConditionErrors": [{"route": 0, "reason": "PathMatchConditionsNotValid", "message": "m"}]}, {"operation": "DELETE"})
	count(routes.deny) == 0 with input as inp
}

# route-action

route_action := {
	"rule": "route-action",
	"type": "RouteError",
	"reason": "RouteActionCountNotValid",
	"message": "must set exactly one of route.services or route.requestRedirectPolicy or route.directResponsePolicy",
}

test_route_with_one_action_allowed[name] if {
	some name, route in {
		"services": {"services": [web]},
		"requestRedirectPolicy": {"requestRedirectPolicy": {"hostname": "example.com"}},
		"directResponsePolicy": {"directResponsePolicy": {"statusCode": 404}},
		"redirect with empty services": {"services": [], "requestRedirectPolicy": {"scheme": "https"}},
	}
	count(routes.deny) == 0 with input as with_routes([route], {})
}

test_route_without_exactly_one_action_denied[name] if {
	some name, route in {
		"none": {"conditions": [{"prefix": "/"}]},
		"empty services": {"services": []},
		"services and redirect": {"services": [web], "requestRedirectPolicy": {"hostname": "example.com"}},
		"services and direct response": {"services": [web], "directResponsePolicy": {"statusCode": 200}},
		"redirect and direct response": {"requestRedirectPolicy": {"hostname": "example.com"}, "directResponsePolicy": {"statusCode": 200}},
		"all three": {"services": [web], "requestRedirectPolicy": {"hostname": "example.com"}, "directResponsePolicy": {"statusCode": 200}},
	}
	deny := routes.deny with input as with_routes([{"services": [web]}, route], {})
	count(deny) == 1
	some v in deny
	fields(v) == route_action
	v.fix == "give spec.routes[1] exactly one of services, requestRedirectPolicy or directResponsePolicy"
}

test_route_action_denied_on_audit if {
	{v.rule | some v in routes.deny} == {"route-action"} with input as with_routes([{}], {"operation": "AUDIT"})
}

test_route_action_not_denied_on_delete if {
	count(routes.deny) == 0 with input as with_routes([{}], {"operation": "DELETE"})
}

# one-mirror

test_two_mirrors_denied if {
	inp := with_routes([{"services": [web, {"name": "m1", "port": 80, "mirror": true}, {"name": "m2", "port": 80, "mirror": true}]}], {})
	deny := routes.deny with input as inp
	count(deny) == 1
	some v in deny
	fields(v) == {
		"rule": "one-mirror",
		"type": "ServiceError",
		"reason": "OnlyOneMirror",
		"message": "only one service per route may be nominated as mirror",
	}
	v.fix == "set mirror: true on at most one service of spec.routes[0]"
}

test_one_mirror_allowed if {
	inp := with_routes([{"services": [web, {"name": "m1", "port": 80, "mirror": true}, {"name": "m2", "port": 80, "mirror": false}]}], {})
	count(routes.deny) == 0 with input as inp
}

test_mirrors_on_different_routes_allowed if {
	inp := with_routes(
		[
			{"services": [web, {"name": "m1", "port": 80, "mirror": true}]},
			{"services": [web, {"name": "m2", "port": 80, "mirror": true}]},
		],
		{},
	)
	count(routes.deny) == 0 with input as inp
}

test_two_mirrors_not_denied_on_delete if {
	inp := with_routes([{"services": [{"name": "m1", "port": 80, "mirror": true}, {"name": "m2", "port": 80, "mirror": true}]}], {"operation": "DELETE"})
	count(routes.deny) == 0 with input as inp
}

# include-chain-conditions

chain_conflict := {
	"route": 1,
	"path": ["projectcontour/root", "team-a/app"],
	"reason": "HeaderMatchConditionsNotValid",
	"message": "cannot specify duplicate header 'exact match' conditions in the same route",
}

test_include_chain_conflict_warned_not_denied if {
	inp := with_facts({"chainConflicts": [chain_conflict]}, {})
	count(routes.deny) == 0 with input as inp
	warn := routes.warn with input as inp
	count(warn) == 1
	some v in warn
	fields(v) == {
		"rule": "include-chain-conditions",
		"type": "RouteError",
		"reason": "HeaderMatchConditionsNotValid",
		"message": "cannot specify duplicate header 'exact match' conditions in the same route",
		"status": "error",
	}
	v.fix == "spec.routes[1] conflicts with the include conditions along projectcontour/root -> team-a/app; change the route or the include so they agree"
}

test_include_chain_conflict_warned_on_audit if {
	inp := with_facts({"chainConflicts": [chain_conflict]}, {"operation": "AUDIT"})
	{v.rule | some v in routes.warn with input as inp} == {"include-chain-conditions"}
}

test_include_chain_conflict_not_warned_on_delete if {
	inp := with_facts({"chainConflicts": [chain_conflict]}, {"operation": "DELETE"})
	count(routes.warn) == 0 with input as inp
}

# service-not-found

test_missing_service_warned_not_denied if {
	inp := with_facts({"services": [service({"found": false, "portFound": false})]}, {})
	count(routes.deny) == 0 with input as inp
	warn := routes.warn with input as inp
	count(warn) == 1
	some v in warn
	fields(v) == {
		"rule": "service-not-found",
		"type": "ServiceError",
		"reason": "ServiceUnresolvedReference",
		"message": `Spec.Routes unresolved service reference: service "team-a/web" not found`,
		"status": "error",
	}
	startswith(v.fix, "create Service web in namespace team-a;")
}

test_missing_tcpproxy_service_warned if {
	inp := with_facts({"services": [service({"route": -1, "found": false, "portFound": false})]}, {})
	{v.message | some v in routes.warn with input as inp} == {`Spec.TCPProxy unresolved service reference: service "team-a/web" not found`}
}

test_missing_service_port_warned if {
	inp := with_facts({"services": [service({"port": 8080, "portFound": false})]}, {})
	warn := routes.warn with input as inp
	count(warn) == 1
	some v in warn
	fields(v) == {
		"rule": "service-not-found",
		"type": "ServiceError",
		"reason": "ServiceUnresolvedReference",
		"message": `Spec.Routes unresolved service reference: port "8080" on service "team-a/web" not matched`,
		"status": "error",
	}
	v.fix == "use a TCP port that Service web exposes, or add port 8080 to it"
}

test_missing_service_warned_on_audit if {
	inp := with_facts({"services": [service({"found": false, "portFound": false})]}, {"operation": "AUDIT"})
	count(routes.warn) == 1 with input as inp
}

test_missing_service_not_warned_on_delete if {
	inp := with_facts({"services": [service({"found": false, "portFound": false}), service({"port": 8080, "portFound": false})]}, {"operation": "DELETE"})
	count(routes.warn) == 0 with input as inp
}
