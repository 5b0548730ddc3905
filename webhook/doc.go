// Package webhook serves Warden's admission webhooks: a validating webhook for HTTPProxy,
// TLSCertificateDelegation and DelegationPolicy that asks policy.Decide about the change,
// and a mutating webhook for HTTPProxy that applies policy.Mutate. Answers are written for
// kubectl users: one line per violated rule in the denial, warnings as warnings.
//
// Serving (TLS, certificate rotation, health, metrics) is in webhook/server. The package
// has no API stability guarantee.
package webhook
