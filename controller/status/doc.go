// Package status writes the status of stored HTTPProxies: the Contour-compatible
// currentStatus, description and Valid condition that policy.Decider.Judge computes for
// each proxy. Only the leader among Warden's replicas writes.
//
// A [Writer] is a manager.Runnable that needs leader election. Every replica builds one,
// but controller-runtime's manager starts it only on the replica that holds the Lease:
//
//	mgr, err := ctrl.NewManager(cfg, manager.Options{
//		Scheme:                        s,
//		Cache:                         watch.CacheOptions(s),
//		LeaderElection:                true,
//		LeaderElectionID:              "warden-status",
//		LeaderElectionNamespace:       podNamespace,
//		LeaderElectionReleaseOnCancel: true, // a replica that stops hands over at once
//	})
//	var w *status.Writer
//	feed := watch.New(mgr.GetCache(), decider, watch.Options{
//		OnApplied: func(kind string, k policy.Key) { /* w.Enqueue what the change affects */ },
//	})
//	w = status.NewWriter(decider.Judge, mgr.GetCache(), status.Options{
//		Client:     writeClient,      // reads after a conflict go to the API server
//		Synced:     feed.WaitForSync, // judge nothing before the Decider has seen the cluster
//		Registerer: metrics.Registry,
//	})
//	err = feed.Start(ctx)
//	err = mgr.Add(w)
//	err = mgr.Start(ctx)
//
// When a replica becomes the leader, the manager calls Writer.Start, which first re-syncs
// every HTTPProxy in the cache: statuses may have gone stale while no replica was leading,
// or the previous leader may have stopped with writes queued. Until then, and once Start
// has returned, Enqueue does nothing, so the replicas that do not lead keep no backlog.
//
// What to enqueue is the caller's choice. A change to one object can alter the status of
// others (a child's includers, every root sharing an fqdn, every proxy referring to a
// Service or a delegation): enqueue those, or call ResyncAll when that is unknown. The
// Writer's own writes come back from the informers as HTTPProxy updates; enqueueing them
// costs one judgement that finds nothing to write, but a caller that calls ResyncAll on
// every event pays one pass over every proxy per write, so it should ignore updates that
// change nothing but the status.
//
// Writes are idempotent and the status is a function of the cluster, so two writers never
// fight: the new leader computes the status the old one wrote and skips the write, and
// LastTransitionTime changes only when the Valid condition's status does.
//
// The package has no API stability guarantee: it is internal to Warden even though it is
// importable.
package status
