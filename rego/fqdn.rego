# Virtual host names: a root must name one, and an fqdn belongs to the first root that
# claimed it (creation time, then namespace/name). Unlike Contour, a later duplicate is the
# only one invalid, and roots outside the root namespaces never take part.
package warden.builtin.fqdn

import data.warden.lib

deny contains v if {
	input.facts.root == true
	input.facts.fqdn == ""
	lib.proxy_write
	v := lib.violation(
		"fqdn-required",
		"Spec.VirtualHost.Fqdn must be specified",
		"set spec.virtualhost.fqdn to the host name this root serves",
		"VirtualHostError", "FQDNNotSpecified",
	)
}

deny contains v if {
	input.facts.root == true
	input.facts.rootNamespaceAllowed == true
	input.facts.fqdnClaimants[1] # a later claimant needs an earlier one
	lib.proxy_write
	owner := input.facts.fqdnOwner
	owner != null
	owner != lib.self
	v := lib.violation(
		"duplicate-fqdn",
		sprintf("fqdn %q is used in multiple HTTPProxies: %s", [input.facts.fqdn, concat(", ", sort(input.facts.fqdnClaimants))]),
		sprintf("%s claimed %q first; choose another fqdn, or ask the owners of %s to include your HTTPProxy", [owner, input.facts.fqdn, owner]),
		"VirtualHostError", "DuplicateVhost",
	)
}
