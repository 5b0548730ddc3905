# Inclusion structure: no cycles, no including a root, valid and distinct include
# conditions (denied), and includes of proxies that do not exist yet (warned: creation
# order must not matter, but until the target exists its requests get 502).
package warden.builtin.includes

import data.warden.lib

include_type(inc) := "TCPProxyIncludeError" if inc.tcp

else := "IncludeError"

deny contains v if {
	input.facts.cycles[0]
	lib.proxy_write
	some cycle in input.facts.cycles
	n := count(cycle)
	v := lib.violation(
		"include-cycle",
		sprintf("include creates an include cycle: %s", [concat(" -> ", cycle)]),
		sprintf("includes must form a tree; remove the include of %s from %s", [cycle[n - 1], cycle[n - 2]]),
		"IncludeError", "IncludeCreatesCycle",
	)
}

deny contains v if {
	input.facts.includes[0]
	lib.proxy_write
	some inc in input.facts.includes
	inc.targetIsRoot
	v := lib.violation(
		"root-includes-root",
		sprintf("root httpproxy cannot include another root httpproxy (%s)", [inc.target]),
		sprintf("%s has a virtualhost of its own; include a proxy without spec.virtualhost instead", [inc.target]),
		include_type(inc), "RootIncludesRoot",
	)
}

# A proxy that others include may not become a root: that would break their includes.
# Only at admission: an existing root is never invalidated because someone includes it.
deny contains v if {
	input.operation in {"CREATE", "UPDATE"}
	input.facts.root == true
	input.facts.includedBy[0]
	lib.proxy_write
	includers := [i | some i in input.facts.includedBy; i != lib.self]
	count(includers) > 0
	v := lib.violation(
		"root-includes-root",
		sprintf("%s is included by %s, so it cannot become a root httpproxy", [lib.self, concat(", ", includers)]),
		"remove spec.virtualhost, or first remove the includes that point at this proxy",
		"IncludeError", "RootIncludesRoot",
	)
}

deny contains v if {
	input.facts.includes[0]
	lib.proxy_write
	some inc in input.facts.includes
	some e in inc.conditionErrors
	v := lib.violation(
		"include-conditions",
		e.message,
		sprintf("fix spec.includes[%d].conditions: includes take at most one prefix (starting with /) plus header and query matchers", [inc.index]),
		include_condition_type(e.reason), e.reason,
	)
}

# Contour reports include header and query problems as RouteError.
include_condition_type(reason) := "IncludeError" if reason == "PathMatchConditionsNotValid"

else := "RouteError"

deny contains v if {
	input.facts.includes[0]
	lib.proxy_write
	some inc in input.facts.includes
	inc.duplicateOf >= 0
	v := lib.violation(
		"duplicate-include-conditions",
		"duplicate conditions defined on an include",
		sprintf(
			"spec.includes[%d] (%s) has the same conditions as spec.includes[%d]; give each include distinct conditions",
			[inc.index, inc.target, inc.duplicateOf],
		),
		"IncludeError", "DuplicateMatchConditions",
	)
}

warn contains v if {
	input.facts.includes[0]
	lib.proxy_write
	some inc in input.facts.includes
	not inc.found
	v := lib.status_error(lib.violation(
		"include-not-found",
		sprintf("include %s not found", [inc.target]),
		sprintf("create HTTPProxy %s or correct the include; until it exists, requests for this include get 502", [inc.target]),
		include_type(inc), "IncludeNotFound",
	))
}
