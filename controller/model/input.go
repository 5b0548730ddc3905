package model

import (
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
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

// NewInput returns an empty Input ready for Add.
func NewInput() Input {
	return Input{
		Proxies:        map[Key]*contourv1.HTTPProxy{},
		Services:       map[Key]*corev1.Service{},
		EndpointSlices: map[Key][]*discoveryv1.EndpointSlice{},
		Secrets:        sets.New[Key](),
	}
}

// Add records obj: an HTTPProxy (a root too if it has a virtualhost), a Service, an
// EndpointSlice (under the Service its kubernetes.io/service-name label names; one without
// the label belongs to no Service and is skipped) or a Secret. It reports whether obj is
// of one of those kinds.
func (in *Input) Add(obj runtime.Object) bool {
	switch o := obj.(type) {
	case *contourv1.HTTPProxy:
		in.Proxies[KeyOf(o)] = o
		if o.Spec.VirtualHost != nil {
			in.Roots = append(in.Roots, o)
		}
	case *corev1.Service:
		in.Services[KeyOf(o)] = o
	case *discoveryv1.EndpointSlice:
		if name := o.Labels[discoveryv1.LabelServiceName]; name != "" {
			svc := Key{Namespace: o.Namespace, Name: name}
			in.EndpointSlices[svc] = append(in.EndpointSlices[svc], o)
		}
	case *corev1.Secret:
		in.Secrets.Insert(KeyOf(o))
	default:
		return false
	}
	return true
}
