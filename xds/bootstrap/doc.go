// Package bootstrap generates the Envoy bootstrap configuration that points an Envoy at
// Warden's xDS server. `warden bootstrap` runs it in Envoy's init container, as Contour's
// `contour bootstrap` does.
//
// The bootstrap holds:
//
//   - a static cluster "warden" (XDSCluster) reaching the xDS server: STRICT_DNS for a host
//     name, STATIC for an IP address; HTTP/2 (gRPC) set explicitly through
//     typed_extension_protocol_options; TCP keepalive; a 5 s connect timeout; circuit
//     breakers raised far above Envoy's defaults; and, with TLS, an UpstreamTlsContext
//     (TLS 1.3, Envoy's client certificate, the CA and DNS SAN "warden" the server's
//     certificate must match);
//   - dynamic_resources: one ADS stream (state-of-the-world, or delta with Options.Delta)
//     to that cluster, from which listeners and clusters come (lds_config and cds_config are
//     {ads: {}}). Routes, endpoints and secrets come from the same stream when the xDS
//     translation refers to them with ADS config sources;
//   - the admin interface on a unix socket (Options.AdminSocket), which the shutdown-manager
//     sidecar (envoy/shutdown) shares, and a static cluster "envoy-admin" (AdminCluster)
//     reaching it.
//
// # Certificate rotation
//
// With Options.ResourcesDir, Envoy gets its client certificate and CA through two SDS files
// (path-based SDS) that Write puts in ResourcesDir/sds. Each is a DiscoveryResponse holding
// one Secret whose TLS material refers to the mounted certificate files, with a
// watched_directory on the directory that holds them: when the kubelet swaps a Secret
// volume's "..data" symlink, Envoy re-reads the certificate and key together (checking they
// belong to the same version) and the CA bundle, and uses them for its next connection to the
// xDS server, without a restart. Without ResourcesDir, the certificates are named inline and
// read once at start-up, as in Contour.
//
// The package has no API stability guarantee: it is internal to Warden even though it is
// importable.
package bootstrap
