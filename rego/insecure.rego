# permitInsecure: when the cluster disables it, a request that sets it is denied, and a
# stored object that sets it (created before the rule, or while the webhook was down) keeps
# working over HTTPS while status says the field is ignored.
package warden.builtin.insecure

import data.warden.lib

deny contains v if {
	input.config.disablePermitInsecure == true
	input.operation in {"CREATE", "UPDATE"}
	input.facts.permitInsecureRoutes[0]
	lib.proxy_write
	some i in input.facts.permitInsecureRoutes
	v := lib.violation(
		"permit-insecure",
		sprintf("spec.routes[%d].permitInsecure is true, but permitInsecure is disabled in this cluster", [i]),
		"remove permitInsecure; plain-HTTP requests to this route will be redirected to HTTPS",
		"SpecError", "PermitInsecureNotAllowed",
	)
}

warn contains v if {
	input.config.disablePermitInsecure == true
	input.facts.permitInsecureRoutes[0]
	lib.proxy_write
	not lib.admission
	some i in input.facts.permitInsecureRoutes
	v := lib.violation(
		"permit-insecure",
		sprintf("spec.routes[%d].permitInsecure is ignored: permitInsecure is disabled in this cluster (httpproxy.disablePermitInsecure)", [i]),
		"remove permitInsecure; plain-HTTP requests to this route are redirected to HTTPS",
		"SpecError", "IgnoredField",
	)
}
