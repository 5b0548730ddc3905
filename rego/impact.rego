# Deleting or narrowing what live vhosts depend on is allowed, but says what will break.
# Admin policies may deny it using the same input.impact.
package warden.builtin.impact

import data.warden.lib

effects := {
	"includeNotFound": "%s includes it and will answer 502 for that include (serving %s)",
	"orphaned": "%s will no longer be reachable from a root (it serves %s)",
	"delegationLost": "%s will lose the use of its TLS secret and stop being served (%s)",
}

warn contains v if {
	input.operation in {"DELETE", "UPDATE"}
	input.kind in {"HTTPProxy", "TLSCertificateDelegation"}
	some a in input.impact.affected
	v := lib.violation(
		"impact",
		sprintf(effects[a.effect], [a.proxy, serving(a.fqdns)]),
		"update the dependent objects first if this is not intended",
		"", "",
	)
}

# serving names the vhosts, or says there are none yet.
serving(fqdns) := concat(", ", fqdns) if count(fqdns) > 0

else := "no vhost yet"
