# TLSCertificateDelegation hygiene.
package warden.builtin.delegation

import data.warden.lib

warn contains v if {
	input.kind == "TLSCertificateDelegation"
	input.operation != "DELETE"
	some g in input.facts.grants
	g.mixedWildcard
	v := lib.violation(
		"delegation-wildcard",
		sprintf("secret %s: \"*\" is a wildcard only when it is the only target namespace; %v grants only the namespaces literally named", [g.secretName, g.targetNamespaces]),
		"use targetNamespaces: [\"*\"] to delegate to every namespace, or list the namespaces",
		"", "",
	)
}

warn contains v if {
	input.kind == "TLSCertificateDelegation"
	input.operation != "DELETE"
	some g in input.facts.grants
	not g.secretExists
	v := lib.violation(
		"delegation-secret-not-found",
		sprintf("secret %s does not exist (yet) in namespace %s", [g.secretName, input.object.metadata.namespace]),
		"create the Secret, or correct secretName",
		"", "",
	)
}
