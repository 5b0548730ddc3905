// Package client is an xDS client that behaves like Envoy on one aggregated (ADS) stream. It
// exists to verify Warden's xDS server without an Envoy binary (tests, e2e) and to show what a
// server serves (warden xds dump).
//
// Like Envoy, the client subscribes to every cluster (CDS) and every listener (LDS), then
// subscribes by name to what those reference: the cluster load assignments of EDS clusters
// (EDS), the route configurations of listeners' HTTP connection managers (RDS) and the secrets
// of their TLS contexts (SDS). It follows the references as they change, unsubscribing from the
// names nothing references any more and forgetting those resources. Every response is ACKed
// with its version and nonce, or NACKed with an error detail when it cannot be decoded or when
// Options.NACK rejects it. State-of-the-world and delta (incremental) xDS are both spoken; see
// Mode.
//
// The client does not reconnect: Run serves one stream and returns when it ends. It does not
// implement resource TTLs, on-demand (VHDS) or scoped routes, or xDS-TP names.
//
// # Protocol details
//
// State of the world:
//
//   - the wildcard subscriptions to clusters and listeners are requests with no resource
//     names (the legacy wildcard form, which Envoy sends). go-control-plane's ADS snapshot
//     cache never answers a state-of-the-world request naming "*": it only answers named
//     requests that list every resource of the type;
//   - the first request of a named type (RDS, EDS, SDS) is only sent once there is a name to
//     subscribe to: an empty first request would be a legacy wildcard subscription. Later
//     requests always carry the full list of subscribed names, which may then be empty;
//   - a request carries the nonce of the last response received for its type (the server
//     ignores requests with a stale nonce) and the last version accepted for the type: a NACK
//     therefore names the previous version, as Envoy's does;
//   - listeners and clusters are full-state: a listener or cluster missing from a response is
//     removed. Route configurations, assignments and secrets are only removed by
//     unsubscribing.
//
// Delta:
//
//   - the wildcard subscriptions name "*" explicitly, and named subscriptions are sent as
//     resource_names_subscribe and resource_names_unsubscribe changes;
//   - resources are added or updated by the resources of a response and removed by its
//     removed_resources; Versions holds each type's system_version_info and ResourceVersions
//     the per-resource versions.
//
// On both protocols the node is sent on the first request of the stream only (Envoy's
// set_node_on_first_message_only), and a response is ACKed before the subscriptions it
// changes are sent.
//
// # Light mode
//
// A light client (Options.Light) behaves the same on the wire but keeps, of each resource,
// only a Summary (version and fingerprint, State.Summaries) instead of the decoded message:
// it decodes listeners and clusters only to learn the names they reference, and reads only
// the name of route configurations, assignments and secrets. It exists so that one process
// can run a thousand clients of a large configuration (the fan-out benchmark). Its states
// are cheap to hand out (Summaries are copied on write) and to check (State.Pending);
// Options.NACKRaw lets a hook decode just the resource it looks for.
//
// The package has no API stability guarantee: it is internal to Warden even though it is
// importable.
package client
