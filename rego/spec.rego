# A root must define something to serve.
package warden.builtin.spec

import data.warden.lib

deny contains v if {
	input.facts.root == true
	lib.proxy_write
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
