package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DelegationPolicy is an admin-written Rego module evaluated with Warden's built-in policies.
//
// Every HTTPProxy and TLSCertificateDelegation change that Warden admits, and every such
// object the controller re-checks in the cluster, is evaluated against the built-in policies
// and against all DelegationPolicies together. spec.enforcement decides what happens to an
// object that this policy's rules flag.
//
// A DelegationPolicy is compiled, and its spec.tests run, when it is created or updated: a
// module that does not compile or whose tests fail is rejected by the API server, and the
// set of policies in force is only ever replaced by a set that compiled. The policy is
// cluster-scoped because it applies to objects in every namespace; only cluster admins
// should be granted write access to it.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=dpol;delegationpolicy,categories=warden
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Enforcement",type=string,JSONPath=`.spec.enforcement`,description="What happens to objects that the policy flags"
// +kubebuilder:printcolumn:name="Compiled",type=boolean,JSONPath=`.status.compiled`,description="Whether spec.rego compiled"
// +kubebuilder:printcolumn:name="Tests",type=boolean,JSONPath=`.status.testsPassed`,description="Whether all of spec.tests passed"
// +kubebuilder:printcolumn:name="Denying",type=integer,JSONPath=`.status.denying`,description="Stored objects that the policy's deny rules flag"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DelegationPolicy struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata. The name identifies the policy in the
	// messages it produces.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the policy as the cluster admin wrote it.
	// +required
	Spec DelegationPolicySpec `json:"spec"`

	// status is what Warden last observed about the policy. It is written by Warden's
	// controller, never by users.
	// +optional
	Status DelegationPolicyStatus `json:"status,omitempty"`
}

// DelegationPolicySpec is the desired state of a DelegationPolicy: its Rego source, its
// tests, and how its findings are enforced.
type DelegationPolicySpec struct {
	// rego is one Rego module, in Rego v1 syntax (the `if` and `contains` keywords are
	// required), that adds rules to Warden's decision. It receives the same input and data as
	// the built-in policies, and its deny and warn rules produce messages for the object under
	// review, as described by Warden's policy-authoring documentation. A module that does not
	// compile is rejected.
	// +required
	// +kubebuilder:validation:MinLength=1
	Rego string `json:"rego"`

	// tests holds optional Rego v1 unit tests for spec.rego: rules whose names start with
	// `test_`, as for `opa test`. They run when the policy is created or updated, and the
	// policy is rejected unless every test passes. Empty means no tests.
	// +optional
	Tests string `json:"tests,omitempty"`

	// enforcement says what Warden does with objects that this policy's deny rules flag:
	// "deny" rejects the change at admission and excludes objects already stored from the
	// Envoy configuration; "warn" admits the change and returns the messages to the client
	// as warnings (shown by kubectl); "audit" changes nothing and only counts the objects in
	// status, which lets a new policy be observed before it is enforced.
	// Defaults to "deny".
	// +optional
	// +kubebuilder:default=deny
	Enforcement Enforcement `json:"enforcement,omitempty"`
}

// EffectiveEnforcement returns the enforcement that applies to the policy: spec.enforcement,
// or EnforcementDeny when it is empty.
//
// The API server fills in the default for the objects it stores, but objects built in Go or
// decoded from manifests without going through it may leave the field empty; callers use this
// method instead of reading the field so that both cases behave the same.
func (s DelegationPolicySpec) EffectiveEnforcement() Enforcement {
	if s.Enforcement == "" {
		return EnforcementDeny
	}
	return s.Enforcement
}

// Enforcement is what Warden does with the objects that a DelegationPolicy flags.
// +kubebuilder:validation:Enum=deny;warn;audit
type Enforcement string

const (
	// EnforcementDeny rejects flagged changes at admission and excludes flagged stored
	// objects from the Envoy configuration. It is the default.
	EnforcementDeny Enforcement = "deny"
	// EnforcementWarn admits flagged changes and returns the policy's messages to the client
	// as admission warnings.
	EnforcementWarn Enforcement = "warn"
	// EnforcementAudit neither rejects nor warns: flagged objects are only counted in the
	// policy's status.
	EnforcementAudit Enforcement = "audit"
)

// DelegationPolicyStatus is what Warden's controller last observed about a DelegationPolicy.
type DelegationPolicyStatus struct {
	// observedGeneration is the metadata.generation of the policy that this status
	// describes. When it is lower than metadata.generation, the latest spec has not been
	// processed yet and the rest of the status may be stale.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// compiled is true when spec.rego compiled. Admission rejects modules that do not
	// compile, but one can still be stored, for example while Warden's webhook was
	// unavailable. Warden then keeps enforcing the last set of policies that compiled, and
	// error says why this one did not.
	// +optional
	Compiled bool `json:"compiled"`

	// testsPassed is true when every test in spec.tests passed. It is also true when
	// spec.tests is empty.
	// +optional
	TestsPassed bool `json:"testsPassed"`

	// error is the compiler or test failure message when compiled or testsPassed is false,
	// and empty otherwise.
	// +optional
	Error string `json:"error,omitempty"`

	// denying is the number of stored objects that the policy's deny rules currently flag.
	// With enforcement "deny" these objects are excluded from the Envoy configuration; with
	// "warn" or "audit" they are only counted, which shows what switching to "deny" would do.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Denying int32 `json:"denying"`

	// warning is the number of stored objects that the policy's warn rules currently flag.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Warning int32 `json:"warning"`

	// conditions are the standard Kubernetes conditions of the policy, at most one per type.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// DelegationPolicyList is a list of DelegationPolicies.
//
// +kubebuilder:object:root=true
type DelegationPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// items are the DelegationPolicies.
	Items []DelegationPolicy `json:"items"`
}
