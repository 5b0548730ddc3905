package policy

import "slices"

// Settings are the cluster-wide HTTPProxy rules from warden.yaml that the built-in policies
// enforce. The zero value allows roots in every namespace and permits permitInsecure.
type Settings struct {
	// RootNamespaces lists the namespaces that may hold root HTTPProxies (those with a
	// virtualhost). Empty means every namespace may.
	RootNamespaces []string
	// DisablePermitInsecure denies permitInsecure: true at admission and makes the
	// controller ignore it (with a status warning) on stored objects.
	DisablePermitInsecure bool
	// FallbackCertificate is the Secret served to clients without SNI for vhosts that set
	// enableFallbackCertificate. Nil means fallback certificates are not configured.
	FallbackCertificate *Key
	// IngressClassName, when set, is written to spec.ingressClassName of HTTPProxies that
	// leave it empty (mutating admission).
	IngressClassName string
}

// rootAllowed reports whether a root HTTPProxy may live in namespace ns.
func (s Settings) rootAllowed(ns string) bool {
	return len(s.RootNamespaces) == 0 || slices.Contains(s.RootNamespaces, ns)
}
