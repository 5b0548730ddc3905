// Package server is Warden's HTTPS server: it serves the admission webhooks (and later the
// views API) together with /healthz, /readyz and /metrics, on one TLS port.
//
// # Certificates
//
// The serving certificate and key are read from PEM files, normally a Secret mounted by the
// kubelet and kept up to date by cert-manager. They are re-read when the files change on disk,
// without a restart: the new pair is used for every new TLS handshake, while connections that
// are already established (HTTP/2 streams, HTTP/1.1 keep-alive) carry on undisturbed.
//
// The mechanism is k8s.io/apiserver's dynamiccertificates package, the same two pieces that
// kube-apiserver's SecureServingInfo uses internally:
//
//   - DynamicCertKeyPairContent (NewDynamicServingContentFromFiles) watches both files with
//     fsnotify, re-arms the watch when a file is removed or renamed (an atomic rename over the
//     file, or the kubelet's "..data" symlink swap followed by removal of the old directory),
//     and keeps the last pair that parsed and matched; a half-written rotation (new
//     certificate, old key) is rejected and retried, so the server never serves a broken pair;
//   - DynamicServingCertificateController turns that content into a *tls.Config that
//     tls.Config.GetConfigForClient hands out for every handshake.
//
// The watch follows the files it was given, through symlinks, to the files behind them: a
// symlink swap is seen when the old files are removed, which the kubelet does. Run also
// re-reads both paths every Options.CertCheckInterval (a minute by default), so that a swap
// that leaves the old files behind, or a lost file event, delays a rotation but never stops it.
//
// SecureServingOptions and SecureServingInfo.Serve were not used, although they give the same
// certificate reload: they import k8s.io/apiserver/pkg/server, which pulls in etcd, gRPC, CEL
// and OpenTelemetry (1,264 packages against 604, standard library included); they panic the
// process when the listener fails; and their shutdown neither reports a drain that timed out
// nor closes the connections still open after it. The server here is a plain net/http.Server
// (HTTP/2 is negotiated by ALPN, "h2" before "http/1.1"), so Run controls the graceful
// shutdown itself.
//
// The certificate controllers log through klog's global logger, not through the logr logger
// in the context; cmd/ can route klog to the process logger with klog.SetLogger.
//
// # Requests
//
// Request bodies are limited to Options.MaxRequestBytes. A request that declares a larger
// Content-Length is answered 413 before the handler runs; a body without a declared length
// is cut off by http.MaxBytesReader, and the handler, seeing an error reading it, asks
// BodyTooLarge and answers 413 itself (see the example in the tests).
//
// A panicking handler is recovered: the panic and its stack are logged, the client gets a 500
// (or, when the response had already started, an aborted response) and the server carries on.
// Handlers that need http.Flusher, http.Hijacker or per-request deadlines should use
// http.NewResponseController, which sees through the server's response wrapper.
//
// Logs use the logr.Logger in the context given to Run (logr.FromContextOrDiscard); request
// contexts carry the same logger.
//
// The package has no API stability guarantee: it is internal to Warden even though it is
// importable.
package server
