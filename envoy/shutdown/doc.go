// Package shutdown is the Envoy shutdown-manager (`warden envoy shutdown-manager`): a
// sidecar in Envoy's pod that drains Envoy before it stops, so that a rollout or a node
// drain does not cut client connections. It follows Contour's design (its shutdown-manager
// and design/envoy-shutdown.md).
//
// # Draining
//
// Manager.Drain:
//
//  1. POSTs /healthcheck/fail to Envoy's admin interface over its unix socket (4 attempts,
//     200 ms then ×5 backoff). Envoy's health-check filter starts failing, so load balancers
//     take the node out of rotation, and Envoy starts draining its listeners;
//  2. waits Options.CheckDelay (60 s) for the load balancers to notice;
//  3. every Options.CheckInterval (5 s), reads GET /stats/prometheus (filtered to
//     ^http\..*\.downstream_cx_active$) and sums the gauge envoy_http_downstream_cx_active
//     over every HTTP connection manager except the ignored ones (label
//     envoy_http_conn_manager_prefix "admin", "envoy-admin", "stats", "health",
//     "stats-health": the admin interface, whose connections include these very requests,
//     and the stats and health listeners probed by Prometheus and the kubelet);
//  4. stops when the sum is at most Options.MinOpenConnections (0), or when
//     Options.DrainTimeout (4 minutes, counted from step 1) has passed.
//
// # In the pod
//
// The Manager serves /healthz (the sidecar's liveness probe) and /shutdown on :8090. Envoy's
// container has a preStop hook `httpGet: {path: /shutdown, port: 8090}`: the request starts
// the drain and is answered when it is over, so Kubernetes sends Envoy its SIGTERM only
// then. The pod's terminationGracePeriodSeconds (300 in the chart) must exceed DrainTimeout.
//
// Contour splits this between two processes: /shutdown waits for a file that the sidecar's
// own preStop command (`contour envoy shutdown`) writes once it has drained Envoy. Warden
// does it in one process: Kubernetes sends SIGTERM to the sidecar (which has no preStop
// hook) at the same time as it runs Envoy's hook, so Manager.Run reacts to SIGTERM by
// draining too (or joining the drain /shutdown started), and keeps serving until the pending
// /shutdown requests are answered. Whichever arrives first starts the one drain.
//
// /shutdown always returns: 200 once Envoy is drained or the drain timed out, 500 with the
// reason when the drain could not start (Envoy's admin socket missing or refusing), which
// Kubernetes records as a failed preStop hook before stopping Envoy anyway. It never blocks
// a pod's termination beyond DrainTimeout.
//
// The package has no API stability guarantee: it is internal to Warden even though it is
// importable.
package shutdown
