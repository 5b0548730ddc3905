package warden.lib_test

import data.warden.lib

proxy_input(overrides) := object.union(
	{
		"operation": "CREATE",
		"kind": "HTTPProxy",
		"object": {"metadata": {"namespace": "team-a", "name": "app"}, "spec": {}},
	},
	overrides,
)

test_self_is_namespace_slash_name if {
	lib.self == "team-a/app" with input as proxy_input({})
}

test_proxy_write_on_create_update_and_audit if {
	every op in ["CREATE", "UPDATE", "AUDIT"] {
		lib.proxy_write with input as proxy_input({"operation": op})
	}
}

test_proxy_write_not_on_delete if {
	not lib.proxy_write with input as proxy_input({"operation": "DELETE"})
}

test_proxy_write_only_for_httpproxy if {
	not lib.proxy_write with input as proxy_input({"kind": "TLSCertificateDelegation"})
}

test_admission_on_create_and_update if {
	every op in ["CREATE", "UPDATE"] {
		lib.admission with input as proxy_input({"operation": op})
	}
}

test_admission_not_on_audit_or_delete if {
	every op in ["AUDIT", "DELETE"] {
		not lib.admission with input as proxy_input({"operation": op})
	}
}

test_violation_has_rule_message_fix_type_reason if {
	lib.violation("r", "m", "f", "T", "R") == {"rule": "r", "message": "m", "fix": "f", "type": "T", "reason": "R"}
}

test_violation_has_no_status if {
	not "status" in object.keys(lib.violation("r", "m", "f", "T", "R"))
}

test_status_error_marks_status_error if {
	lib.status_error(lib.violation("r", "m", "f", "T", "R")) == {
		"rule": "r", "message": "m", "fix": "f",
		"type": "T", "reason": "R", "status": "error",
	}
}
