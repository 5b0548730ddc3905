// Package policy is Warden's decision core: the indexed inventory of watched objects, the
// delegation-graph facts computed from it, the Rego engine (built-in and admin policies) and
// Decide, the one function that both the admission webhook and the controller call.
//
// The webhook asks Decide about a proposed change (the inventory with the change applied,
// without storing it); the controller asks about stored objects. Because both use the same
// facts and the same policies, what kubectl is told at admission equals the status the
// controller later writes.
//
// The package knows nothing of HTTP, gRPC or the Kubernetes API server. It has no API
// stability guarantee: it is internal to Warden even though it is importable.
package policy
