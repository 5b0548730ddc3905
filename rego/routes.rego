# Routes: valid conditions (denied), exactly one action and at most one mirror (denied),
# conditions that contradict an includer's only along an include path (warned: neither
# object is wrong alone; status marks the route owner invalid, as Contour does), and
# Services that do not exist yet (warned; until then the route answers 503).
package warden.builtin.routes

import data.warden.lib

deny contains v if {
	input.facts.routeConditionErrors[0]
	lib.proxy_write
	some e in input.facts.routeConditionErrors
	v := lib.violation(
		"route-conditions",
		e.message,
		sprintf("fix spec.routes[%d].conditions", [e.route]),
		"RouteError", e.reason,
	)
}

deny contains v if {
	input.object.spec.routes[0]
	lib.proxy_write
	some i, route in input.object.spec.routes
	not one_action(route)
	v := lib.violation(
		"route-action",
		"must set exactly one of route.services or route.requestRedirectPolicy or route.directResponsePolicy",
		sprintf("give spec.routes[%d] exactly one of services, requestRedirectPolicy or directResponsePolicy", [i]),
		"RouteError", "RouteActionCountNotValid",
	)
}

deny contains v if {
	input.object.spec.routes[0]
	lib.proxy_write
	some i, route in input.object.spec.routes
	some j, k
	route.services[j].mirror
	route.services[k].mirror
	j < k
	v := lib.violation(
		"one-mirror",
		"only one service per route may be nominated as mirror",
		sprintf("set mirror: true on at most one service of spec.routes[%d]", [i]),
		"ServiceError", "OnlyOneMirror",
	)
}

# one_action holds for a route with exactly one of services, requestRedirectPolicy and
# directResponsePolicy.
one_action(route) if {
	route.services[0]
	not route.requestRedirectPolicy
	not route.directResponsePolicy
}

one_action(route) if {
	not route.services[0]
	route.requestRedirectPolicy
	not route.directResponsePolicy
}

one_action(route) if {
	not route.services[0]
	not route.requestRedirectPolicy
	route.directResponsePolicy
}

warn contains v if {
	input.facts.chainConflicts[0]
	lib.proxy_write
	some c in input.facts.chainConflicts
	v := lib.status_error(lib.violation(
		"include-chain-conditions",
		c.message,
		sprintf(
			"spec.routes[%d] conflicts with the include conditions along %s; change the route or the include so they agree",
			[c.route, concat(" -> ", c.path)],
		),
		"RouteError", c.reason,
	))
}

warn contains v if {
	input.facts.services[0]
	lib.proxy_write
	some s in input.facts.services
	not s.found
	v := lib.status_error(lib.violation(
		"service-not-found",
		sprintf("%s unresolved service reference: service %q not found", [service_field(s), s.service]),
		sprintf("create Service %s in namespace %s; until then this route answers 503", [s.name, input.object.metadata.namespace]),
		"ServiceError", "ServiceUnresolvedReference",
	))
}

warn contains v if {
	input.facts.services[0]
	lib.proxy_write
	some s in input.facts.services
	s.found
	not s.portFound
	v := lib.status_error(lib.violation(
		"service-not-found",
		sprintf("%s unresolved service reference: port \"%d\" on service %q not matched", [service_field(s), s.port, s.service]),
		sprintf("use a TCP port that Service %s exposes, or add port %d to it", [s.name, s.port]),
		"ServiceError", "ServiceUnresolvedReference",
	))
}

service_field(s) := "Spec.TCPProxy" if s.route < 0

else := "Spec.Routes"
