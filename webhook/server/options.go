package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Defaults for Options. cmd/ uses them as flag and configuration-file defaults.
const (
	// DefaultPort is the port cmd/ should default to: controller-runtime's webhook port, which
	// Helm charts and NetworkPolicies in the ecosystem already expect. Options.Port itself
	// treats 0 as "pick a free port".
	DefaultPort = 9443

	// DefaultMinTLSVersion is TLS 1.3. Every client of this server is a Go program
	// (kube-apiserver calling webhooks or proxying the aggregated views API, Prometheus, the
	// kubelet's HTTPS probes), and Go has offered TLS 1.3 since 1.13. Requiring 1.3 also removes
	// cipher-suite configuration altogether (1.3 has only AEAD suites). Gatekeeper defaults
	// --tls-min-version to 1.3 for the same reasons.
	DefaultMinTLSVersion = tls.VersionTLS13

	// DefaultMaxRequestBytes is 7 MiB. An AdmissionReview carries up to two objects (object and
	// oldObject on UPDATE), each up to kube-apiserver's 3 MiB request limit, plus the request
	// envelope. A 3 MiB limit would reject legitimate reviews of large objects, and with a
	// fail-closed webhook that blocks the update. controller-runtime uses 7 MiB for this reason.
	DefaultMaxRequestBytes = 7 << 20

	// DefaultReadHeaderTimeout bounds the time a client may take to send request headers.
	DefaultReadHeaderTimeout = 10 * time.Second

	// DefaultIdleTimeout closes keep-alive connections idle this long; it matches
	// net/http.DefaultTransport and kube-apiserver's own serving.
	DefaultIdleTimeout = 90 * time.Second

	// DefaultCertCheckInterval is how often the certificate files are re-read even when no
	// file event announced a change. File events normally trigger the reload within
	// milliseconds; this is the safety net for events that never come.
	DefaultCertCheckInterval = time.Minute

	// DefaultShutdownTimeout bounds how long Run waits for in-flight requests after its context
	// is done: well inside a Pod's default 30 s termination grace period, and longer than any
	// admission call, which the webhook configuration bounds to a few seconds.
	DefaultShutdownTimeout = 15 * time.Second
)

// Paths served by the server itself; Options.Handlers may not use them.
const (
	// HealthzPath answers 200 "ok" while the process serves.
	HealthzPath = "/healthz"
	// ReadyzPath answers 200 "ok" when Options.Ready returns nil, and 503 with its error otherwise.
	ReadyzPath = "/readyz"
	// MetricsPath serves Options.Registry in the Prometheus exposition format.
	MetricsPath = "/metrics"
)

// Options configure a Server. The zero value of a field means its documented default; only
// CertFile and KeyFile are required.
type Options struct {
	// BindAddress is the IP address to listen on. Default "": all interfaces, IPv4 and IPv6,
	// which a Pod needs so that kube-apiserver can reach it. Tests use "127.0.0.1".
	BindAddress string

	// Port is the TCP port to listen on. 0 lets the kernel pick a free port (tests); read it
	// back with Server.Addr. cmd/ defaults its setting to DefaultPort (9443).
	Port int

	// CertFile and KeyFile are the PEM-encoded serving certificate (chain) and private key.
	// Required. They are watched and re-read when they change on disk (see the package
	// documentation); the pair must be valid when New is called.
	CertFile, KeyFile string

	// CertCheckInterval is how often CertFile and KeyFile are re-read even without a file
	// event. The watch misses a change when, for example, a symlink is swapped to new files
	// but the old files are left in place (the kubelet removes them; other writers may not).
	// Default DefaultCertCheckInterval (1 minute).
	CertCheckInterval time.Duration

	// MinTLSVersion is the lowest TLS version accepted: tls.VersionTLS12 or tls.VersionTLS13.
	// Default DefaultMinTLSVersion (TLS 1.3).
	MinTLSVersion uint16

	// MaxRequestBytes is the largest request body accepted. Larger bodies are answered 413
	// (see BodyTooLarge). Default DefaultMaxRequestBytes (7 MiB).
	MaxRequestBytes int64

	// ReadHeaderTimeout bounds reading a request's headers. Default DefaultReadHeaderTimeout
	// (10 s). There is deliberately no whole-request read or write timeout: they would cut off
	// long-running responses of the views API, and on HTTP/1.1 an expired read deadline cancels
	// the request's context. Handlers bound their own work with contexts, and may set
	// per-request deadlines with http.NewResponseController.
	ReadHeaderTimeout time.Duration

	// IdleTimeout closes keep-alive connections that stay idle this long. Default
	// DefaultIdleTimeout (90 s).
	IdleTimeout time.Duration

	// ShutdownTimeout bounds how long Run waits for in-flight requests to finish once its
	// context is done; connections still open after it are closed. Default
	// DefaultShutdownTimeout (15 s).
	ShutdownTimeout time.Duration

	// Handlers maps a net/http.ServeMux pattern to its handler, e.g. "/validate",
	// "POST /mutate", or "/apis/" for a subtree. Paths not matched by any pattern, nor by the
	// server's own paths, are answered 404. Patterns may not use HealthzPath, ReadyzPath or
	// MetricsPath. Default: none.
	Handlers map[string]http.Handler

	// Ready reports readiness for ReadyzPath: nil means ready. It is called on every probe, so
	// it must be cheap and safe for concurrent use. Default nil: always ready.
	Ready func() error

	// Registry is served at MetricsPath. Default nil: a new registry holding the Go runtime and
	// process collectors.
	Registry *prometheus.Registry
}

// withDefaults returns a copy of o with zero fields set to their defaults.
func (o Options) withDefaults() Options {
	if o.MinTLSVersion == 0 {
		o.MinTLSVersion = DefaultMinTLSVersion
	}
	if o.MaxRequestBytes == 0 {
		o.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if o.ReadHeaderTimeout == 0 {
		o.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.CertCheckInterval == 0 {
		o.CertCheckInterval = DefaultCertCheckInterval
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		)
	}
	return o
}

// validate checks defaulted options and reports every problem at once.
func (o Options) validate() error {
	var errs []error
	if o.CertFile == "" || o.KeyFile == "" {
		errs = append(errs, errors.New("both a certificate file and a key file are required"))
	}
	if o.Port < 0 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d is out of range 0-65535", o.Port))
	}
	if o.MinTLSVersion != tls.VersionTLS12 && o.MinTLSVersion != tls.VersionTLS13 {
		errs = append(errs, fmt.Errorf("minimum TLS version %s is not supported: use TLS 1.2 or TLS 1.3",
			tls.VersionName(o.MinTLSVersion)))
	}
	if o.MaxRequestBytes < 0 {
		errs = append(errs, fmt.Errorf("maximum request size %d is negative", o.MaxRequestBytes))
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{
		{"read header timeout", o.ReadHeaderTimeout},
		{"idle timeout", o.IdleTimeout},
		{"shutdown timeout", o.ShutdownTimeout},
		{"certificate check interval", o.CertCheckInterval},
	} {
		if d.value < 0 {
			errs = append(errs, fmt.Errorf("%s %s is negative", d.name, d.value))
		}
	}
	for _, pattern := range slices.Sorted(maps.Keys(o.Handlers)) {
		if err := validatePattern(pattern, o.Handlers[pattern]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// validatePattern rejects handler patterns that would shadow the server's own paths. Syntax
// errors and conflicts between patterns are found when the patterns are registered.
func validatePattern(pattern string, h http.Handler) error {
	if h == nil {
		return fmt.Errorf("handler for pattern %q is nil", pattern)
	}
	// A pattern is "[METHOD ][HOST]/[PATH]": the path starts at the first slash.
	path := pattern
	if _, rest, ok := strings.Cut(pattern, " "); ok {
		path = strings.TrimLeft(rest, " \t")
	}
	i := strings.Index(path, "/")
	if i < 0 {
		return fmt.Errorf("pattern %q has no path: it must contain a path starting with \"/\"", pattern)
	}
	path = path[i:]
	if path == HealthzPath || path == ReadyzPath || path == MetricsPath {
		return fmt.Errorf("pattern %q uses %s, which the server serves itself", pattern, path)
	}
	return nil
}
