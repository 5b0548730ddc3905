package model

import (
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Input is what the model is built from: the accepted set and the objects it references.
// Build only reads it; nothing in it is modified.
type Input struct {
	// Roots are the accepted root HTTPProxies (spec.virtualhost set). Each is expected to
	// own its fqdn; if two claim the same fqdn (compared lower-case) anyway, the older
	// (creation timestamp, then namespace/name) wins and the other is reported in
	// Problems. Entries without a virtualhost fqdn are ignored.
	Roots []*contourv1.HTTPProxy
	// Proxies are all accepted HTTPProxies, roots included, for resolving includes. An
	// include whose target is absent is treated as not found.
	Proxies map[Key]*contourv1.HTTPProxy
	// Services by key.
	Services map[Key]*corev1.Service
	// EndpointSlices by the key of the Service they belong to (their
	// kubernetes.io/service-name label).
	EndpointSlices map[Key][]*discoveryv1.EndpointSlice
	// Secrets is the set of Secrets that exist. Their data is not needed.
	Secrets sets.Set[Key]
}

// Options are the controller settings that change the model. The zero value is Contour's
// default configuration.
type Options struct {
	// DisablePermitInsecure ignores spec.routes[].permitInsecure everywhere, so every route
	// of a TLS vhost redirects HTTP to HTTPS (Contour's disablePermitInsecure). Default
	// false.
	DisablePermitInsecure bool
	// FallbackCertificate is the Secret configured as the fallback certificate for clients
	// without SNI; zero when none is configured. A vhost that enables the fallback
	// certificate while none is configured is not served, as in Contour.
	FallbackCertificate Key
}
