# A proxy that no live root reaches serves no traffic. It is allowed (its root may come
# later) but the user is told, and status says orphaned.
package warden.builtin.orphan

import data.warden.lib

warn contains v if {
	input.facts.orphaned == true
	lib.proxy_write
	v := lib.status_error(lib.violation(
		"orphaned",
		"this HTTPProxy is not part of a delegation chain from a root HTTPProxy",
		sprintf("have a root HTTPProxy include %s; until then it serves no traffic", [lib.self]),
		"Orphaned", "Orphaned",
	))
}
