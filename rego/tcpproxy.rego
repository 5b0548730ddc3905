# TCPProxy: services or an include (not both, not neither), and a root that terminates or
# passes through TLS, because TCP proxying is routed by SNI.
package warden.builtin.tcpproxy

import data.warden.lib

tcp := input.object.spec.tcpproxy

has_include if tcp.include

has_include if tcp.includes

deny contains lib.violation(
	"tcpproxy",
	"cannot specify services and include in the same httpproxy",
	"spec.tcpproxy takes either services or include",
	"TCPProxyError", "NoServicesAndInclude",
) if {
	input.object.spec.tcpproxy
	lib.proxy_write
	count(object.get(tcp, "services", [])) > 0
	has_include
}

deny contains lib.violation(
	"tcpproxy",
	"either services or inclusion must be specified",
	"give spec.tcpproxy services or an include",
	"TCPProxyError", "NothingDefined",
) if {
	input.object.spec.tcpproxy
	lib.proxy_write
	count(object.get(tcp, "services", [])) == 0
	not has_include
}

deny contains lib.violation(
	"tcpproxy",
	"Spec.TCPProxy requires that either Spec.TLS.Passthrough or Spec.TLS.SecretName be set",
	"set spec.virtualhost.tls.secretName or passthrough: true",
	"TCPProxyError", "TLSMustBeConfigured",
) if {
	input.object.spec.tcpproxy
	input.facts.root == true
	lib.proxy_write
	tls := object.get(input.object.spec.virtualhost, "tls", {})
	not tls.passthrough
	object.get(tls, "secretName", "") == ""
}
