// Package translate turns Warden's routing model (controller/model) into Envoy resources:
// the last pure stage of the translation pipeline (DESIGN.md "xDS"; STYLE.md R2). Translate
// takes no context, makes no calls, reads nothing but its arguments, and sorts what it
// emits, so that every replica computes the same resources and the same content hashes
// (Resources.Hashes), which serve as xDS versions.
//
// # Shapes
//
// The resources follow Contour's names and shapes (reference/contour-semantics.md §4.1), so
// that Envoy dashboards and habits carry over:
//
//   - Listener ingress_http on Options.Address:HTTPPort (0.0.0.0:8080): one filter chain,
//     one HTTP connection manager (stat prefix ingress_http) using the route configuration
//     ingress_http over RDS.
//   - Listener ingress_https on HTTPSPort (8443), only when at least one TLS vhost is
//     served: the TLS inspector listener filter, and one filter chain per TLS vhost matched
//     on server_names [fqdn], with a DownstreamTlsContext naming the vhost's certificate
//     over SDS and an HTTP connection manager (stat prefix ingress_https) using the route
//     configuration https/<fqdn>. Vhosts that enable the fallback certificate also share a
//     chain named fallback-certificate, matched on transport_protocol tls (clients without
//     a known SNI), using the route configuration ingress_fallbackcert.
//   - Route configuration ingress_http (always, possibly empty) holds every vhost; there a
//     route marked HTTPSRedirect is a 301 redirect to https (https_redirect), other routes
//     act normally. https/<fqdn> holds the TLS vhost with every route acting normally.
//     A vhost is named after its fqdn and matches that one domain ("*.example.com" is an
//     Envoy wildcard; the model's ":authority" match keeps it to one label).
//   - Clusters: EDS clusters named as the model names them (Contour's
//     namespace/service/port/hash), alt_stat_name namespace_service_port, EDS service name
//     the model's EDSName, connect timeout 2 s, panic threshold disabled, the LB policy
//     mapped as Contour maps it, HTTP/2 through typed_extension_protocol_options for h2
//     and h2c, an UpstreamTlsContext for tls and h2.
//   - ClusterLoadAssignments named after the EDS names, one locality.
//   - Secrets: one TLS certificate (chain and key, inline) per served certificate, named
//     namespace/name.
//
// Every RDS, EDS and SDS reference uses the ADS config source ({ads: {}}, resource API V3)
// that the bootstrap (xds/bootstrap) sets up.
//
// # Validation
//
// Every message is checked with protoc-gen-validate's ValidateAll before it is packed into
// an Any (which ValidateAll never looks inside: the HTTP connection manager, the router
// filter, the TLS contexts, the upstream HTTP options), and every resource after it is
// built (an assembled resource, see below, as its shell and each of its virtual hosts or
// filter chains: ValidateAll has no rule across them). A failure is a translation bug: Translate returns an error wrapping ErrInvalid
// that names the resource and the message, and no resources. Validate runs the same
// checks on resources from elsewhere (Messages); CheckReferences checks that every referenced route
// configuration, cluster, EDS name and secret is served.
//
// ValidateAll checks field rules only. What it cannot see, and Envoy may still reject: a
// route regex (path, header, query parameter) that RE2 rejects or that exceeds Envoy's
// program size limit, which the model passes through verbatim.
//
// # Choices
//
//   - HTTP connection manager, as in Contour: codec AUTO, use_remote_address true (no
//     trusted hops), normalize_path true, merge_slashes false (Contour's default),
//     strip_any_host_port true, preserve_external_request_id true, HTTP/1.0 accepted; the
//     router filter is the only HTTP filter (envoy.filters.http.router). With client
//     certificate forwarding, forward_client_cert_details SANITIZE_SET and the chosen
//     details.
//   - Downstream TLS: ALPN h2 and http/1.1; versions are the vhost's, clamped to
//     [Options.MinTLSVersion, Options.MaxTLSVersion] with the floor winning a conflict;
//     the cipher suites are Options.CipherSuites (Contour's list by default).
//   - CA bundles and CRLs (client validation, upstream validation) are inlined in the
//     validation context, as in Contour, rather than served over SDS: they are read only
//     where they are used, a rotated CA changes the resources that use it (and their
//     hashes), and no SDS name has to distinguish a Secret's certificate from its CA.
//     Only certificates with private keys are SDS secrets: a rotated certificate is one
//     SDS update, and private keys live in one resource each, not in every listener.
//   - Upstream TLS: SNI from the model (a route's Host rewrite), ALPN h2 for h2,
//     versions Options.UpstreamMinTLSVersion..UpstreamMaxTLSVersion (TLS 1.2..1.3, where
//     Envoy's client default stops at 1.2), validation against the inlined CA with the
//     subject name as a DNS SAN.
//   - Routes: one cluster is "cluster", several are "weighted_clusters" (Envoy sums the
//     weights; the deprecated total_weight is not set); a mirror with a percentage below
//     100 gets a runtime fraction; response and idle timeouts map to timeout and
//     idle_timeout (0 s disables, nil is Envoy's default); retries always set num_retries
//     (Envoy reads an unset one as 1, and the model's 0 means none); websockets are a
//     per-route upgrade config; header values have "%" escaped except Envoy variables
//     Contour allows ("%REQ(x)%", "%DOWNSTREAM_REMOTE_ADDRESS%", …); header policies apply
//     to proxied routes only, as in Contour; the cookie hash policy has a zero TTL (a
//     session cookie).
//   - Health checks: the model's zero values become Contour's defaults (interval 5 s,
//     timeout 2 s, unhealthy 3, healthy 2, Host "contour-envoy-healthcheck").
//   - Endpoints: ready endpoints are HEALTHY; serving-but-not-ready (terminating) ones
//     are DRAINING, so they get no new requests, unless the assignment has no ready
//     endpoint, when they are HEALTHY: a last resort, as kube-proxy does.
//
// # Secrets without data
//
// The caller fills model.Secret.Data. When a key Envoy needs is missing or empty (tls.crt
// and tls.key of a certificate, ca.crt of a CA, ca.crl of a CRL), Resources.Missing says
// so and what was left out; nothing is served half-configured:
//
//   - a vhost certificate, client CA or CRL: the vhost gets no HTTPS filter chain (nor
//     https/<fqdn>), and the certificate no SDS secret. A listener referring to an SDS
//     secret that is never served would stay warming, taking every other vhost's HTTPS
//     down with it; a chain without its client validation would admit clients it must
//     refuse. The vhost stays on ingress_http (its permitInsecure routes keep working);
//   - the fallback certificate: no fallback-certificate chain;
//   - an upstream CA: the cluster is not served (never unvalidated), routes drop it from
//     their clusters and mirrors, and a route left with none answers 503, as the model
//     does for an unresolved backend.
//
// # Incremental translation
//
// The controller translates after every change, and a change rebuilds one virtual host;
// translating, validating, marshalling and hashing a whole model of 10,000 HTTPProxies
// takes a few hundred milliseconds. A Translator (NewTranslator) keeps, from one call to
// the next, what it built for each model item, validated: its deterministic encoding and
// its hash, not the Envoy message, which nothing needs once it is encoded (a whole model's
// messages would be most of what a Translator keeps). It builds again only what is new:
// an item whose pointer changed (the model never changes an item in place; an item
// rebuilt with the same content is recognised and keeps its translation), or whose
// Secret data changed (compared by content on every call, since the caller fills it in
// place). What depends on Secret data across items (clusters left out, vhosts served on
// HTTPS, the fallback certificate, Resources.Missing) is recomputed on every call, and
// when the clusters left out change, every vhost's routes are translated again.
//
// ingress_http (every vhost) and ingress_https (a filter chain per TLS vhost) are the big
// resources. Their encodings are assembled from their virtual hosts' and filter chains'
// memoized encodings, byte for byte what marshalling the whole message gives (see
// assemble.go); a filter chain is memoized by what it is made of, so a vhost rebuilt for a
// route change keeps it, and ingress_https is reused as it is while its chains are the
// same. Resources.Encoded gives every encoding, so that the xDS server need not marshal
// again; a resource that did not change keeps the very same slice. Resources hold only
// encodings and hashes: Resources.Decode gives the messages to what reads them (tests,
// debug views).
//
// Translate is a Translator used once: both give the same Resources for the same model.
//
// # Not translated
//
// Endpoint zones (one locality is used), access logs, and anything the model does not
// carry (see model.Model.Unsupported).
//
// The package is importable but has no API stability guarantee: it is internal to Warden.
package translate
