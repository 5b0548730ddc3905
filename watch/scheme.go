package watch

import (
	"fmt"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	policyv1alpha1 "github.com/projectwarden/warden/apis/policy/v1alpha1"
)

// NewScheme returns a new scheme holding the types a Feed watches: client-go's built-in
// types (among them core/v1 Namespace, Service, Secret and meta/v1 PartialObjectMetadata),
// Contour's projectcontour.io/v1 and Warden's policy.warden.dev/v1alpha1. Each call builds
// a fresh scheme; nothing is registered globally.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		contourv1.AddToScheme,
		policyv1alpha1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("building the watch scheme: %w", err)
		}
	}
	return s, nil
}

// CacheOptions returns the options of a controller-runtime cache suitable for a Feed: scheme
// s (from NewScheme, possibly with more types added) and a default transform that drops
// metadata.managedFields before objects are stored.
//
// managedFields are often a large part of a small object, and neither Warden's rules nor its
// status writes read them, so keeping them only costs memory; Contour's own cache strips
// them the same way (projectcontour/contour PR #5099). Pass the result to cache.New, or set
// it as manager.Options.Cache so that the manager's cache is the one the Feed reads.
func CacheOptions(s *runtime.Scheme) cache.Options {
	return cache.Options{
		Scheme:           s,
		DefaultTransform: cache.TransformStripManagedFields(),
	}
}
