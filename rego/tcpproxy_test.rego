package warden.builtin.tcpproxy_test

import data.warden.builtin.tcpproxy

# proxy_input is a root HTTPProxy team-a/app that passes TLS through to TCP Service db;
# overrides are merged in.
proxy_input(overrides) := object.union(
	{
		"operation": "CREATE",
		"kind": "HTTPProxy",
		"object": {
			"metadata": {"namespace": "team-a", "name": "app"},
			"spec": {
				"virtualhost": {"fqdn": "db.example.com", "tls": {"passthrough": true}},
				"tcpproxy": {"services": [db]},
			},
		},
		"namespace": {"name": "team-a", "exists": true, "labels": {}},
		"config": {"rootNamespaces": [], "disablePermitInsecure": false, "fallbackCertificate": null},
		"facts": {"root": true, "fqdn": "db.example.com", "rootNamespaceAllowed": true},
	},
	overrides,
)

db := {"name": "db", "port": 5432}

# with_tcpproxy replaces spec.tcpproxy (and merges overrides into the input).
with_tcpproxy(tcp, overrides) := object.union(
	json.patch(proxy_input({}), [{"op": "replace", "path": "/object/spec/tcpproxy", "value": tcp}]),
	overrides,
)

# with_vhost replaces spec.virtualhost.
with_vhost(vhost, overrides) := object.union(
	json.patch(proxy_input({}), [{"op": "replace", "path": "/object/spec/virtualhost", "value": vhost}]),
	overrides,
)

# non_root is team-a/app without a virtualhost, as included by a root's tcpproxy.
non_root(tcp) := json.patch(
	proxy_input({"facts": {"root": false, "fqdn": ""}}),
	[
		{"op": "remove", "path": "/object/spec/virtualhost"},
		{"op": "replace", "path": "/object/spec/tcpproxy", "value": tcp},
	],
)

fields(v) := object.filter(v, {"rule", "type", "reason", "message", "status"})

the_deny(inp) := v if {
	deny := tcpproxy.deny with input as inp
	count(deny) == 1
	some v in deny
}

test_valid_tcpproxy_allowed[name] if {
	some name, tcp in {
		"services": {"services": [db]},
		"include": {"include": {"name": "db", "namespace": "team-b"}},
		"deprecated includes": {"includes": {"name": "db"}},
	}
	count(tcpproxy.deny) == 0 with input as with_tcpproxy(tcp, {})
}

test_no_tcpproxy_allowed if {
	inp := json.remove(proxy_input({}), ["object/spec/tcpproxy"])
	count(tcpproxy.deny) == 0 with input as inp
}

test_services_and_include_denied[name] if {
	some name, tcp in {
		"include": {"services": [db], "include": {"name": "db"}},
		"deprecated includes": {"services": [db], "includes": {"name": "db"}},
	}
	v := the_deny(with_tcpproxy(tcp, {}))
	fields(v) == {
		"rule": "tcpproxy",
		"type": "TCPProxyError",
		"reason": "NoServicesAndInclude",
		"message": "cannot specify services and include in the same httpproxy",
	}
}

test_neither_services_nor_include_denied[name] if {
	some name, tcp in {
		"empty tcpproxy": {},
		"empty services": {"services": []},
	}
	v := the_deny(with_tcpproxy(tcp, {}))
	fields(v) == {
		"rule": "tcpproxy",
		"type": "TCPProxyError",
		"reason": "NothingDefined",
		"message": "either services or inclusion must be specified",
	}
}

test_root_tcpproxy_without_tls_denied[name] if {
	some name, vhost in {
		"no tls": {"fqdn": "db.example.com"},
		"passthrough false, no secretName": {"fqdn": "db.example.com", "tls": {"passthrough": false}},
		"empty secretName": {"fqdn": "db.example.com", "tls": {"secretName": ""}},
	}
	v := the_deny(with_vhost(vhost, {}))
	fields(v) == {
		"rule": "tcpproxy",
		"type": "TCPProxyError",
		"reason": "TLSMustBeConfigured",
		"message": "Spec.TCPProxy requires that either Spec.TLS.Passthrough or Spec.TLS.SecretName be set",
	}
}

test_root_tcpproxy_terminating_tls_allowed if {
	count(tcpproxy.deny) == 0 with input as with_vhost({"fqdn": "db.example.com", "tls": {"secretName": "cert"}}, {})
}

test_non_root_tcpproxy_needs_no_tls if {
	count(tcpproxy.deny) == 0 with input as non_root({"services": [db]})
}

# The rule reads rootness from input.facts.root, like every built-in policy.
test_tcpproxy_tls_rule_keyed_on_facts_root if {
	count(tcpproxy.deny) == 0 with input as with_vhost({"fqdn": "db.example.com"}, {"facts": {"root": false}})
}

test_non_root_tcpproxy_without_services_or_include_denied if {
	{v.reason | some v in tcpproxy.deny} == {"NothingDefined"} with input as non_root({})
}

test_tcpproxy_denied_on_update_and_audit if {
	every op in ["UPDATE", "AUDIT"] {
		{v.reason | some v in tcpproxy.deny} == {"NoServicesAndInclude"} with input as with_tcpproxy({"services": [db], "include": {"name": "db"}}, {"operation": op})
	}
}

test_tcpproxy_not_denied_on_delete if {
	every inp in [
		with_tcpproxy({"services": [db], "include": {"name": "db"}}, {"operation": "DELETE"}),
		with_tcpproxy({}, {"operation": "DELETE"}),
		with_vhost({"fqdn": "db.example.com"}, {"operation": "DELETE"}),
	] {
		count(tcpproxy.deny) == 0 with input as inp
	}
}
