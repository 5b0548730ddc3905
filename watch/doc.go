// Package watch feeds a policy.Decider from the Kubernetes API server, so that the
// webhook's and the controller's referential rules (include targets, fqdn ownership,
// delegated secrets, namespace labels, admin policies) see the cluster as it is.
//
// A [Feed] registers event handlers on controller-runtime informers for HTTPProxy,
// TLSCertificateDelegation, DelegationPolicy, Namespace, Service and the metadata of
// Secret, and applies every add, update and delete to the Decider:
//
//	s, err := watch.NewScheme()
//	c, err := cache.New(cfg, watch.CacheOptions(s))
//	f := watch.New(c, decider, watch.Options{})
//	err = f.Start(ctx)  // registers the handlers; returns at once
//	go c.Start(ctx)     // or the manager starts its cache
//	f.WaitForSync(ctx)  // or poll f.Ready() from /readyz
//
// Objects from the informer cache are shared by every reader of that cache, and the
// Decider stores them without copying. That is safe only because nobody mutates them: the
// Feed does not, the Decider treats stored objects as immutable, and any other reader of the
// same cache must not modify what it gets either (DeepCopy first).
//
// The package has no API stability guarantee: it is internal to Warden even though it is
// importable.
package watch
