# Roots (HTTPProxies with a virtualhost) may live only in the configured root namespaces.
package warden.builtin.rootnamespace

import data.warden.lib

deny contains v if {
	input.facts.root == true
	input.facts.rootNamespaceAllowed == false
	lib.proxy_write
	v := lib.violation(
		"root-namespace",
		"root HTTPProxy cannot be defined in this namespace",
		sprintf(
			"root HTTPProxies may only live in namespaces %s; remove spec.virtualhost and ask a root there to include %s",
			[concat(", ", input.config.rootNamespaces), lib.self],
		),
		"RootNamespaceError", "RootProxyNotAllowedInNamespace",
	)
}
