package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const (
	// GroupName is the API group of this package's types.
	GroupName = "policy.warden.dev"
	// Version is the API version of this package's types.
	Version = "v1alpha1"
)

// GroupVersion returns the group and version of this package's types.
//
// This is a func rather than the usual package-level var so that no caller can reassign it:
// the package holds no mutable state.
func GroupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: GroupName, Version: Version}
}

// Resource returns the group-qualified resource for the given resource name, as
// apierrors.NewNotFound and friends expect.
func Resource(resource string) schema.GroupResource {
	return GroupVersion().WithResource(resource).GroupResource()
}

// AddToScheme registers DelegationPolicy and DelegationPolicyList, and the meta/v1 types
// (ListOptions, WatchEvent, ...) that clients need for this group version, with s.
//
// Nothing is registered at import time; the binary calls this explicitly when it builds its
// scheme. Calling it again on the same scheme is harmless. Like runtime.Scheme.AddKnownTypes,
// it panics if s already maps these kinds to different Go types. The returned error is
// currently always nil; it is there so that AddToScheme has the func(*runtime.Scheme) error
// shape that runtime.SchemeBuilder and controller-runtime expect.
func AddToScheme(s *runtime.Scheme) error {
	gv := GroupVersion()
	s.AddKnownTypes(gv, &DelegationPolicy{}, &DelegationPolicyList{})
	metav1.AddToGroupVersion(s, gv)
	return nil
}
