package policy

import (
	"fmt"
	"slices"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
)

// delegated reports whether namespace ns may use secret s: always within the secret's own
// namespace; otherwise only when a TLSCertificateDelegation in the secret's namespace names
// ns, or names exactly ["*"] ("*" is a wildcard only when it stands alone, as in Contour).
func delegated(v view, s Key, ns string) bool {
	if s.Namespace == ns {
		return true
	}
	for _, targets := range v.grantsFor(s) {
		if (len(targets) == 1 && targets[0] == "*") || slices.Contains(targets, ns) {
			return true
		}
	}
	return false
}

// secretFacts lists every TLS secret reference: the vhost certificate, the fallback
// certificate, client-validation CA and CRL, JWKS upstream CAs and upstream (service) CAs.
func secretFacts(v view, s Settings, e *proxyEntry) []SecretFact {
	var out []SecretFact
	ns := e.key.Namespace
	addKey := func(use, field, ref string, k Key) {
		out = append(out, SecretFact{Use: use, Field: field, Ref: ref, Secret: k,
			CrossNamespace: k.Namespace != ns, Delegated: delegated(v, k, ns), Exists: v.secretExists(k)})
	}
	add := func(use, field, ref string) {
		if ref != "" {
			addKey(use, field, ref, secretRef(ref, ns))
		}
	}
	spec := e.obj.Spec
	if vh := spec.VirtualHost; vh != nil {
		if tls := vh.TLS; tls != nil {
			add("vhost", "spec.virtualhost.tls.secretName", tls.SecretName)
			if tls.EnableFallbackCertificate && s.FallbackCertificate != nil {
				addKey("fallback", "spec.virtualhost.tls.enableFallbackCertificate", s.FallbackCertificate.String(), *s.FallbackCertificate)
			}
			if cv := tls.ClientValidation; cv != nil {
				add("clientCA", "spec.virtualhost.tls.clientValidation.caSecret", cv.CACertificate)
				add("crl", "spec.virtualhost.tls.clientValidation.crlSecret", cv.CertificateRevocationList)
			}
		}
		for i, p := range vh.JWTProviders {
			if uv := p.RemoteJWKS.UpstreamValidation; uv != nil {
				add("jwksCA", fmt.Sprintf("spec.virtualhost.jwtProviders[%d].remoteJWKS.validation.caSecret", i), uv.CACertificate)
			}
		}
	}
	for i, r := range spec.Routes {
		for j, svc := range r.Services {
			if uv := svc.UpstreamValidation; uv != nil {
				add("upstreamCA", fmt.Sprintf("spec.routes[%d].services[%d].validation.caSecret", i, j), uv.CACertificate)
			}
		}
	}
	return out
}

// serviceFacts resolves every backend reference in the proxy's own namespace, as Contour
// does: a Service with a TCP port of that number.
func serviceFacts(v view, e *proxyEntry) []ServiceFact {
	var out []ServiceFact
	add := func(route int, svc contourv1.Service) {
		k := Key{e.key.Namespace, svc.Name}
		f := ServiceFact{Route: route, Service: k, Port: svc.Port}
		if s := v.service(k); s != nil {
			f.Found = true
			f.PortFound = slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool {
				return int(p.Port) == svc.Port && (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP)
			}) || s.Spec.Type == corev1.ServiceTypeExternalName
		}
		out = append(out, f)
	}
	for i, r := range e.obj.Spec.Routes {
		for _, svc := range r.Services {
			add(i, svc)
		}
	}
	if tcp := e.obj.Spec.TCPProxy; tcp != nil {
		for _, svc := range tcp.Services {
			add(-1, svc)
		}
	}
	return out
}

// chainConflicts checks each route's header and query conditions merged with the include
// conditions of every path that reaches it. Routes whose own conditions are already wrong
// are reported by RouteConditionErrors instead.
func chainConflicts(e *proxyEntry, f *Facts) []ChainConflict {
	var out []ChainConflict
	for i, r := range e.obj.Spec.Routes {
		if slices.ContainsFunc(f.RouteConditionErrors, func(rc RouteConditionError) bool { return rc.Route == i }) {
			continue
		}
		for _, p := range f.Reach {
			if len(p.Conditions) == 0 {
				continue
			}
			merged := append(slices.Clone(p.Conditions), r.Conditions...)
			for _, ce := range matcherErrors(merged) {
				out = append(out, ChainConflict{Route: i, Path: p.Path, conditionError: ce})
			}
		}
	}
	return out
}
