// Package server is Warden's xDS server: go-control-plane's discovery services (ADS,
// state-of-the-world and delta, plus per-type LDS, RDS, CDS, EDS and SDS) on a gRPC server
// secured with mutual TLS, whose certificates are reloaded from disk without a restart.
//
// The package composes go-control-plane rather than wrapping it (R3): callers build the
// cache (cache.NewSnapshotCache(server.ADS, …), possibly behind a MuxCache) and the
// callbacks, and hand both to New. NewLogger adapts a logr.Logger to go-control-plane's
// logger, for the caches as well as for the server.
//
// # Mutual TLS
//
// Clients must present a certificate that chains to a CA of Options.CAFile; TLS 1.3 is the
// only version accepted. CAFile may be a bundle: during a CA rotation it holds the old and
// the new CA together, and clients with certificates from either are accepted.
//
// The CA bundle, the server certificate and its key are re-read when they change, and every
// new handshake uses the latest material that loaded (tls.Config.GetConfigForClient returns
// a configuration built from it). Established connections keep the TLS session of their
// handshake, so a rotation never breaks a running ADS stream; Options.MaxConnectionAge makes
// every client reconnect, and so re-handshake, within a bounded time.
//
// The files are polled (every Options.ReloadInterval, one second by default), not watched
// with fsnotify:
//
//   - kubelet updates a Secret volume by swapping the "..data" symlink to a new directory;
//     the files themselves are symlinks that never change. inotify does not follow symlinks,
//     so a watcher must watch the parent directories and re-arm itself after every rename or
//     removal, and it does not work at all on some volume types. A poll simply opens the paths
//     again, resolving the symlinks each time, and sees any kind of replacement (kubelet's
//     swap, an atomic rename, an in-place write);
//   - the contents are compared, not modification times, which the kubelet's copies and
//     tools like "cp -p" or tar can leave unchanged;
//   - the cost is reading three files of a few kilobytes per second, and the latency (one
//     second) is negligible next to the kubelet's own propagation delay of a minute or more.
//
// Contents are parsed only when their bytes differ from the previous read. A rotation caught
// half-way (a new certificate with the old key: tls.X509KeyPair checks that they match), or
// broken files, are logged and ignored: new handshakes keep the last material that loaded,
// and the next read retries. The files must be valid when New is called.
//
// # Insecure mode
//
// Options.Insecure serves plaintext gRPC with no client authentication. It is for local
// development only: anyone who reaches the port can read every route, cluster and TLS
// private key served over SDS. Run logs a warning at the highest verbosity when it is set.
//
// # Lifecycle
//
// New binds the socket (Addr is known at once); Run serves until its context is done, then
// ends every stream and stops gracefully within Options.ShutdownTimeout. Server also
// implements controller-runtime's manager.Runnable and LeaderElectionRunnable (every replica
// serves xDS).
//
// The package has no API stability guarantee: it is internal to Warden even though it is
// importable.
package server
