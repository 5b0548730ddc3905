# Helpers shared by the built-in policies.
package warden.lib

# self is the object's "namespace/name".
self := sprintf("%s/%s", [input.object.metadata.namespace, input.object.metadata.name])

# proxy_write holds for an HTTPProxy being created, updated or audited (not deleted):
# the object's own rules apply.
proxy_write if {
	input.kind == "HTTPProxy"
	input.operation != "DELETE"
}

# admission holds for a create or update request (not an audit of a stored object).
admission if input.operation in {"CREATE", "UPDATE"}

# violation builds a violation object; see the rego package documentation.
violation(rule, message, fix, type, reason) := {
	"rule": rule,
	"message": message,
	"fix": fix,
	"type": type,
	"reason": reason,
}

# status_error marks a warn-level violation that status reports as an error.
status_error(v) := object.union(v, {"status": "error"})
