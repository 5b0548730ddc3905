# A root must define something to serve.
package warden.builtin.spec

import data.warden.lib

deny contains v if {
	lib.proxy_write
	input.facts.root
	count(object.get(input.object.spec, "routes", [])) == 0
	count(object.get(input.object.spec, "includes", [])) == 0
	not input.object.spec.tcpproxy
	v := lib.violation(
		"nothing-defined",
		"HTTPProxy.Spec must have at least one Route, Include, or a TCPProxy",
		"add spec.routes, spec.includes or spec.tcpproxy",
		"SpecError", "NothingDefined",
	)
}
